"""Readout and prediction tasks: decode a variable from the agent's activations on held-out states."""

from __future__ import annotations

from typing import Any

import numpy as np

from mirl.scoring import ScoreReport, auroc, balanced_accuracy, brier, macro_auroc, r2_per_output, softmax, variance_explained
from mirl.seeding import test_seed
from mirl.task import Task, TrainData

from .reports import mean_report, statistic_report


def decode(answer: Any, activations: dict[str, np.ndarray], n: int) -> np.ndarray:
    """A linear decoder's outputs [n, outputs] on ``n`` states' activations (each hook flattened per state)."""
    out = np.tile(answer.bias, (n, 1))
    for hook, w in answer.weights.items():
        out += activations[hook].reshape(n, -1).astype(np.float64) @ w
    return out


class ReadoutTask(Task):
    """Decode ``spec.target`` from activations on held-out states (``readout`` and ``prediction`` answers).

    A family implements ``test_states(agent, seed, hooks)``: the test split's states for the salted test seed,
    with the agent's activations at ``hooks`` and ``spec.target`` among the labels (usually the same code as its
    ``train_data`` on the other split). The base decodes them and scores by ``spec.primary_metric``:

    - ``accuracy``: argmax of the outputs == the label, mean with a bootstrap CI (floor from the spec);
    - ``balanced_accuracy``: mean per-class recall of the argmax (floor 1 / the classes present);
    - ``auroc``: one output → AUROC of it against a 0/1 label; several → macro one-vs-rest AUROC of their
      softmax, with the Brier score and accuracy (floor 0.5);
    - ``r2``: continuous labels [N, outputs] (e.g. per-arm value estimates): the mean over outputs of R²
      floored at 0 (``mirl.scoring.variance_explained``; floor 0: each output's mean), with the raw mean R².

    ``context_metrics(states)`` adds facts of the test states to every report (e.g. a base rate); a family with
    another metric overrides ``score_outputs``."""

    instance_label: str | None = None
    """The label naming the instance (level, map) a state comes from, where distinct instances can look alike:
    ``mirl.testing.check_task`` then checks that train and test share no instance by it, not by observation."""

    def test_states(self, agent: Any, seed: int, hooks: list[str]) -> TrainData:
        raise NotImplementedError

    def context_metrics(self, states: TrainData) -> dict[str, float]:
        return {}

    def score(self, answer: Any, seed: int) -> ScoreReport:
        states = self.test_states(self.load_agent(), test_seed(seed), list(answer.weights))
        return self.score_outputs(decode(answer, states.activations, len(states)), states, seed)

    def score_outputs(self, outputs: np.ndarray, states: TrainData, seed: int) -> ScoreReport:
        report = self.score_by_metric(outputs, states.labels[self.spec.target], seed)
        report.metrics.update(self.context_metrics(states))
        return report

    def score_by_metric(self, outputs: np.ndarray, labels: np.ndarray, seed: int) -> ScoreReport:
        metric = self.spec.primary_metric
        if metric == "accuracy":
            return mean_report(outputs.argmax(1) == labels, seed, name="accuracy",
                               floor=self.spec.normalization.floor, ceiling=1.0)
        if metric == "balanced_accuracy":
            predicted = outputs.argmax(1)
            return statistic_report(balanced_accuracy, labels, predicted, seed=seed, n_boot=500,
                                    name="balanced_accuracy", metrics={"accuracy": float(np.mean(predicted == labels))},
                                    floor=1 / len(np.unique(labels)), ceiling=1.0)
        if metric == "auroc" and outputs.shape[1] == 1:
            return statistic_report(auroc, labels, outputs[:, 0], seed=seed, name="auroc", floor=0.5, ceiling=1.0)
        if metric == "auroc":
            # outputs are logits; AUROC ranks the probabilities, so a decoder that is sure of the argmax wins
            # even where two classes' logits nearly tie
            probs = softmax(outputs)
            return statistic_report(macro_auroc, labels, probs, seed=seed, n_boot=500, name="auroc", metrics={
                "brier": float(brier(labels, probs).mean()), "accuracy": float((outputs.argmax(1) == labels).mean())},
                floor=0.5, ceiling=1.0)
        if metric == "r2":
            labels = np.asarray(labels, np.float64).reshape(len(labels), -1)
            return statistic_report(variance_explained, labels, outputs, seed=seed, n_boot=500, name="r2",
                                    metrics={"r2_raw": float(r2_per_output(labels, outputs).mean())},
                                    floor=0.0, ceiling=1.0)
        raise NotImplementedError(f"{self.spec.id} scores {metric!r}: override score_outputs")
