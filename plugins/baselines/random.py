"""`random`: a seeded random answer of every kind; the floor every real method must beat."""

from __future__ import annotations

import numpy as np

from mirl.method import Method
from mirl.schemas import AgentPredictions, Edit, Intervention, MethodInfo, Prediction, Readout, UnitScores
from mirl.units import unit_shape


class RandomMethod(Method):
    info = MethodInfo(
        name="random",
        version="1",
        answer_kinds=["readout", "unit_scores", "intervention", "prediction", "agent_predictions"],
        description="Random decoder weights, unit scores, activation edit or per-agent numbers, drawn from the "
        "run's seed",
        stochastic=True,
        hyperparameters={"decoder_weights": "standard normal", "edit": "add a standard-normal vector at one "
                         "random hook", "unit_scores": "uniform [0, 1)", "agent_predictions": "uniform [0, 1)"},
        compute="none: no forward pass, no env step",
    )

    def solve(self, view):
        rng: np.random.Generator = view.rng
        hooks = view.hook_points
        kind = view.answer_kind
        if kind == "agent_predictions":
            return AgentPredictions(values={ref.id: float(rng.random()) for ref in view.spec.agents})
        if kind == "unit_scores":
            return UnitScores(scores={h: rng.random(unit_shape(view.spec.unit_level, h, shape))
                                      for h, shape in hooks.items()})
        hook = sorted(hooks)[rng.integers(len(hooks))]
        shape = hooks[hook]
        if kind == "intervention":
            return Intervention(edits=[Edit(hook=hook, op="add", vector=rng.normal(size=shape))])
        outputs = view.spec.output_dim or 1
        weights = {hook: rng.normal(size=(int(np.prod(shape)), outputs))}
        model = Readout if kind == "readout" else Prediction
        return model(weights=weights, bias=np.zeros(outputs))
