"""`interchange-scan` and `unit-correlation`: a causal and a correlational way to rank units for a variable.

- interchange-scan: activation patching on minimal pairs — patch one unit at a time from the counterfactual run
  (the base with only the variable changed) into the base run, and score it by how much that raises the
  log-probability of the agent's greedy action on the counterfactual, averaged over the pairs where that
  action differs from the base's. The counterfactual, not the source, is the donor: it differs from the base
  only in the variable, so a unit that moves the action carries the variable, not the rest of the source's
  layout.
- unit-correlation: |Pearson correlation| between each unit (channel units: its mean over positions) and the
  task's target label over the train split — what a decoding-first analysis ranks by, fooled by units that
  encode the variable without using it.
- probe-weight: the magnitude of each unit's weight in a logistic probe for the target fitted on all units of
  a hook point at once (on standardised features, so |w| compares units): the multivariate cousin of
  unit-correlation, which credits a unit for what it adds beyond the others.
"""

from __future__ import annotations

import numpy as np

from mirl.errors import MirlError
from mirl.method import Method
from mirl.schemas import MethodInfo, UnitScores
from mirl.units import pool

from mirl.plugins.attribution.common import unit_index, unit_shape

from .common import activations, interchange_pairs

SCAN_PAIRS = 512


class InterchangeScan(Method):
    info = MethodInfo(
        name="interchange-scan",
        version="1",
        answer_kinds=["unit_scores"],
        requires=["interchange_pairs"],
        description="Activation patching on minimal pairs: patch each unit alone from the counterfactual run into "
        "the base run; score = mean gain in log-probability of the agent's counterfactual action",
        references=["Vig et al. 2020, Investigating gender bias in language models using causal mediation "
                    "analysis (NeurIPS)",
                    "Heimersheim & Nanda 2024, How to use and interpret activation patching (arXiv 2404.15255)"],
        hyperparameters={"pairs": SCAN_PAIRS, "donor": "the counterfactual (base with the variable changed)",
                         "effect": "Δ log p(counterfactual action), mean over pairs where that action changes"},
        compute=f"{SCAN_PAIRS} train pairs; one patched forward pass per pair and unit",
    )

    def solve(self, view):
        import torch

        pairs = interchange_pairs(view, SCAN_PAIRS)
        keep = torch.from_numpy(np.flatnonzero(pairs.changing) if pairs.changing.any() else np.arange(len(pairs.target)))
        base, target = pairs.base[keep], pairs.target[keep]
        hooks = list(view.hook_points)
        donor_act = activations(view, pairs.counterfactual[keep], hooks)

        def logp(edits) -> torch.Tensor:
            with torch.no_grad(), view.agent.hooks(edits):
                return torch.log_softmax(view.agent(base)[0], -1).gather(1, target[:, None]).squeeze(1)

        unpatched = logp([])
        scores = {}
        for hook in hooks:
            shape = unit_shape(view, hook)
            gain = np.zeros(int(np.prod(shape)))
            for unit in range(len(gain)):
                index = unit_index(view, hook, unit)

                def patch(act, _name, index=index, donor=donor_act[hook]):
                    out = act.clone()
                    out[index] = donor[index]
                    return out

                gain[unit] = float((logp([(hook, patch)]) - unpatched).mean())
            scores[hook] = gain.reshape(shape)
        return UnitScores(scores=scores)


def labelled_units(view, method: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per hook, the train split's units as columns ([n, units]; channel units: their mean over positions), and
    the task's target label per state."""
    hooks = list(view.hook_points)
    data = view.train_data(hooks=hooks)
    if view.spec.target not in data.labels:
        raise MirlError(f"{method} needs a per-state label {view.spec.target!r}; {view.spec.id}'s train data has "
                        f"{sorted(data.labels)}")
    units = {}
    for hook in hooks:
        units[hook] = pool(np.asarray(data.activations[hook], dtype=np.float64), view.spec.unit_level, hook)
    return units, np.asarray(data.labels[view.spec.target])


class UnitCorrelation(Method):
    info = MethodInfo(
        name="unit-correlation",
        version="1",
        answer_kinds=["unit_scores"],
        families=["doorkey"],
        description="|Pearson correlation| of each unit (channel units: mean over positions) with the task's "
        "target label over the train split",
        references=["Gupta et al. 2024, InterpBench (arXiv 2407.14494): correlational baselines on planted circuits"],
        hyperparameters={"states": "the task's whole train split", "statistic": "|Pearson r|"},
        compute="the train split's forward passes",
    )

    def solve(self, view):
        units, y = labelled_units(view, "unit-correlation")
        y = y.astype(np.float64)
        scores = {}
        for hook, x in units.items():
            xc, yc = x - x.mean(0), y - y.mean()
            denominator = np.sqrt((xc ** 2).sum(0) * (yc ** 2).sum())
            r = np.divide(xc.T @ yc, denominator, out=np.zeros(x.shape[1]), where=denominator > 0)
            scores[hook] = np.abs(r).reshape(unit_shape(view, hook))
        return UnitScores(scores=scores)


class ProbeWeight(Method):
    info = MethodInfo(
        name="probe-weight",
        version="1",
        answer_kinds=["unit_scores"],
        families=["doorkey"],
        description="|weight| of each unit in a logistic probe for the task's label on standardised units (channel "
        "units: mean over positions), one probe per hook point",
        references=["Dalvi et al. 2019, What is one grain of sand in the desert? Analyzing individual neurons in "
                    "deep NLP models (AAAI)"],
        hyperparameters={"states": "the task's whole train split", "probe": "logistic regression, L2 1e-2, L-BFGS",
                         "score": "‖w_unit‖ over classes × the unit's standard deviation"},
        compute="the train split's forward passes and one logistic fit per hook point",
    )

    def solve(self, view):
        from mirl.probes import fit_logistic

        units, y = labelled_units(view, "probe-weight")
        labels = y.astype(np.int64)
        scores = {}
        for hook, x in units.items():
            w, _ = fit_logistic(x, labels, max(2, int(labels.max()) + 1))
            # fit_logistic returns weights on the raw features; × the feature's sd gives the standardised ones
            scores[hook] = (np.linalg.norm(w, axis=1) * x.std(0)).reshape(unit_shape(view, hook))
        return UnitScores(scores=scores)
