"""Scoring helpers shared by every task: AUROC, average precision, bootstrap CIs, normalisation.

Each function here has a known-answer test (tests/test_scoring.py): perfect → 1, random → chance,
label-shuffled → chance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their mean rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends + 1) / 2.0)[inverse]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (ties share their mean rank); 0 where either side is constant."""
    rx, ry = _average_ranks(np.asarray(x, dtype=np.float64)), _average_ranks(np.asarray(y, dtype=np.float64))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / denominator) if denominator > 0 else 0.0


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``spearman`` of many small samples at once (e.g. bootstrap resamples): [B, n] and [B, n] give [B] values,
    each equal to ``spearman`` of that row, bit for bit (average ranks counted pairwise are the same exact
    half-integers; the sums run along each row as they do along one)."""
    rx, ry = (_average_ranks_rows(np.asarray(v, dtype=np.float64)) for v in (x, y))
    rx, ry = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    denominator = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    numerator = (rx * ry).sum(axis=1)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def _average_ranks_rows(values: np.ndarray) -> np.ndarray:
    """``_average_ranks`` of each row of [B, n] (pairwise: for the small n of a bootstrap over agents or seeds)."""
    below = (values[:, None, :] < values[:, :, None]).sum(axis=2)
    tied = (values[:, None, :] == values[:, :, None]).sum(axis=2)
    return below + (tied + 1) / 2.0


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney U), ties counted as one half. NaN if one class is missing."""
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def pairwise_auroc(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """AUROC of many small samples at once (e.g. bootstrap resamples): ``positives`` [B, P] and ``negatives``
    [B, N] scores give [B] values, each equal to ``auroc`` of that row's P + N scores (every pair compared,
    ties one half: the same exact fraction of P·N)."""
    p, n = np.asarray(positives, np.float64)[:, :, None], np.asarray(negatives, np.float64)[:, None, :]
    return ((p > n) + 0.5 * (p == n)).mean(axis=(1, 2))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision (area under precision-recall, step-wise); its chance level is the prevalence."""
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n_pos = int(labels.sum())
    if n_pos == 0:
        return float("nan")
    # Ties would make the value depend on sort order; average over tied groups by processing them together.
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    distinct = np.flatnonzero(np.r_[s[1:] != s[:-1], True])  # last index of each tied group
    tp = np.cumsum(y)[distinct]
    predicted = distinct + 1
    precision = tp / predicted
    recall_gain = np.diff(np.r_[0, tp]) / n_pos
    return float(np.sum(precision * recall_gain))


def macro_auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """One-vs-rest AUROC averaged over the classes present in ``labels``; scores are [n, classes]."""
    labels = np.asarray(labels).ravel()
    values = [auroc(labels == k, scores[:, k]) for k in range(scores.shape[1]) if 0 < np.sum(labels == k) < len(labels)]
    return float(np.mean(values)) if values else float("nan")


def r2_per_output(targets: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """[outputs]: each output's coefficient of determination, 1 − SSE / SST (SST around that output's mean over
    these rows; an output that does not vary scores 0)."""
    targets, predictions = np.asarray(targets, np.float64), np.asarray(predictions, np.float64)
    sse = ((targets - predictions) ** 2).sum(0)
    sst = ((targets - targets.mean(0)) ** 2).sum(0)
    return np.where(sst > 0, 1 - sse / np.where(sst > 0, sst, 1), 0.0)


def variance_explained(targets: np.ndarray, predictions: np.ndarray) -> float:
    """The mean over outputs of R² floored at 0: predicting each output's mean scores 0, and so does anything
    worse (a random decoder's R² is unboundedly negative; on a leaderboard it is simply no better)."""
    return float(np.maximum(r2_per_output(targets, predictions), 0.0).mean())


def balanced_accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``labels`` (a constant guess scores 1/classes)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    classes = np.unique(labels)
    return float(np.mean([(predictions[labels == c] == c).mean() for c in classes]))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def brier(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per-instance multi-class Brier score (0 is perfect, 2 is the worst)."""
    onehot = np.eye(probs.shape[1])[np.asarray(labels).ravel()]
    return np.sum((probs - onehot) ** 2, axis=1)


def bootstrap_ci(
    statistic: Callable[..., float],
    *arrays: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = 1000,
    level: float = 0.95,
    rowwise: Callable[..., np.ndarray] | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic(*arrays)``, resampling instances (rows) with replacement.

    Resamples on which the statistic is undefined (NaN, e.g. AUROC with one class) are dropped. ``rowwise``, the
    same statistic of all resamples at once ([B, n] arrays give [B] values, e.g. ``spearman_rows``), gives the same
    interval faster where the resampled arrays fit in memory.
    """
    n = len(arrays[0])
    idx = rng.integers(0, n, size=(n_boot, n))
    if rowwise is not None:
        values = np.asarray(rowwise(*(a[idx] for a in arrays)), dtype=np.float64)
    else:
        values = np.array([statistic(*(a[i] for a in arrays)) for i in idx], dtype=np.float64)
    return _percentile_interval(values, level)


def _percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` interval of bootstrap statistics, NaNs (undefined resamples) dropped."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (float("nan"), float("nan"))
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def mean_ci(values: np.ndarray, rng: np.random.Generator, n_boot: int = 1000) -> tuple[float, float]:
    """Bootstrap CI of a mean, vectorised (per-instance scores such as correct/incorrect)."""
    values = np.asarray(values, dtype=np.float64)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[idx].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return (float(low), float(high))


def cluster_bootstrap_ci(
    statistic: Callable[..., float], *arrays: np.ndarray, clusters: np.ndarray, rng: np.random.Generator,
    n_boot: int = 1000, level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic(*arrays)`` resampling *clusters*, the unit that instances share (a
    level, a maze, an episode, a game): each resample draws as many clusters as there are, with replacement, and
    takes every instance of each. States of one level are not independent draws of the test distribution, so
    resampling them one by one gives intervals that are too narrow. ``clusters``: one id per instance.

    ``statistic=np.mean`` of one array is computed from per-cluster sums, all resamples at once; others resample
    instance indices. NaN statistics are dropped as in ``bootstrap_ci``."""
    ids, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    picks = rng.integers(0, len(ids), size=(n_boot, len(ids)))
    if statistic is np.mean and len(arrays) == 1:
        sums = np.bincount(inverse, weights=np.asarray(arrays[0], dtype=np.float64), minlength=len(ids))
        counts = np.bincount(inverse, minlength=len(ids)).astype(np.float64)
        values = sums[picks].sum(1) / counts[picks].sum(1)
    else:
        members = [np.flatnonzero(inverse == k) for k in range(len(ids))]
        values = np.array([statistic(*(a[np.concatenate([members[k] for k in row])] for a in arrays))
                           for row in picks], dtype=np.float64)
    return _percentile_interval(values, level)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n_boot: int = 2000) -> dict[str, float]:
    """Paired comparison of two methods' per-instance values on the same test instances: the mean difference
    a − b, its bootstrap 95% CI (instances resampled together), and the fraction of resamples in which the
    difference is not above 0 (a one-sided bootstrap p-value for "a beats b")."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"paired values must be two equal-length 1-d arrays, got shapes {a.shape} and {b.shape}")
    difference = a - b
    picks = rng.integers(0, len(difference), size=(n_boot, len(difference)))
    means = difference[picks].mean(1)
    return {"difference": float(difference.mean()), "ci_low": float(np.quantile(means, 0.025)),
            "ci_high": float(np.quantile(means, 0.975)), "p_not_better": float(np.mean(means <= 0)),
            "n": int(len(difference))}


def normalize(score: float, floor: float, ceiling: float) -> float:
    """Map floor → 0 and ceiling → 1 (works for lower-is-better metrics too, where ceiling < floor)."""
    if ceiling == floor:
        return float("nan")
    return (score - floor) / (ceiling - floor)


@dataclass
class ScoreReport:
    """What a task's scorer returns: flat metrics, the primary score with its CI, and the anchors used."""

    metrics: dict[str, float]
    score: float
    ci: tuple[float, float]
    n: int
    floor: float
    ceiling: float
    details: dict = field(default_factory=dict)
    instances: np.ndarray | None = None
    """Per-test-instance values whose mean is ``score``, in the test split's fixed order (for paired
    comparisons of two methods on the same instances); None where the score is not such a mean."""

    @property
    def normalized_score(self) -> float:
        return normalize(self.score, self.floor, self.ceiling)
