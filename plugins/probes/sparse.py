"""`sparse-probe`: keep the k units whose activations best separate the classes (one-way ANOVA F statistic on
the train split), then fit a logistic probe on those alone; k and the hook point are chosen on a held-out fifth.

A probe that needs few units says more about where a variable lives than one that reads a whole layer
(Gurnee et al. 2023's sparse probing)."""

from __future__ import annotations

import numpy as np

from mirl.method import Method
from mirl.probes import fit_logistic
from mirl.schemas import MethodInfo
from mirl.scoring import balanced_accuracy

from .common import HOLDOUT, decoder_answer, labelled_split

K_GRID = (8, 32, 128)
L2 = 1e-2


def f_statistic(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per column of ``x`` [n, F]: between-class variance over within-class variance (one-way ANOVA)."""
    classes = np.unique(labels)
    grand = x.mean(0)
    between = np.zeros(x.shape[1])
    within = np.zeros(x.shape[1])
    for c in classes:
        rows = x[labels == c]
        between += len(rows) * (rows.mean(0) - grand) ** 2
        within += ((rows - rows.mean(0)) ** 2).sum(0)
    dof_between, dof_within = max(len(classes) - 1, 1), max(len(x) - len(classes), 1)
    return (between / dof_between) / (within / dof_within + 1e-12)


class SparseProbe(Method):
    info = MethodInfo(
        name="sparse-probe",
        version="1",
        answer_kinds=["readout", "prediction"],
        description="Logistic probe on the top-k units by ANOVA F statistic (k and hook point chosen on a held-out "
        "fifth of the train split)",
        references=["Gurnee et al. 2023, Finding Neurons in a Haystack: Case Studies with Sparse Probing "
                    "(arXiv 2305.01610)"],
        hyperparameters={"k_grid": list(K_GRID), "l2": L2, "holdout_fraction": HOLDOUT,
                         "selection": "one-way ANOVA F statistic per unit"},
        compute="the task's whole train split (its forward passes) and (hooks × k grid + 1) small logistic fits",
    )

    def solve(self, view):
        split = labelled_split(view, "sparse-probe")
        y = split.labels
        best = None
        for hook, x in split.activations.items():
            x = x.astype(np.float64)
            ranking = np.argsort(-f_statistic(x[split.fit], y[split.fit]), kind="stable")
            for k in K_GRID:
                keep = ranking[: min(k, x.shape[1])]
                w, b = fit_logistic(x[split.fit][:, keep], y[split.fit], split.classes, l2=L2)
                score = balanced_accuracy(y[split.val], (x[split.val][:, keep] @ w + b).argmax(1))
                if best is None or score > best[0]:
                    best = (score, hook, k)
        _, hook, k = best
        x = split.activations[hook].astype(np.float64)
        keep = np.argsort(-f_statistic(x, y), kind="stable")[: min(k, x.shape[1])]
        w_small, b = fit_logistic(x[:, keep], y, split.classes, l2=L2)
        w = np.zeros((x.shape[1], split.classes))
        w[keep] = w_small
        return decoder_answer(view, hook, w, b, split.outputs)
