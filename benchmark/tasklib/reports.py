"""One way to turn per-instance results into a ``ScoreReport``: the bootstrap draws from one seed, the primary
score and its CI from the same values, the anchors as the task states them."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from mirl.scoring import ScoreReport, bootstrap_ci, cluster_bootstrap_ci, mean_ci
from mirl.seeding import derive_seed


def bootstrap_rng(seed: int) -> np.random.Generator:
    """The generator every scorer's CI draws from: one per run seed, the same for every method."""
    return np.random.default_rng(derive_seed(seed, "bootstrap"))


def mean_report(values: np.ndarray, seed: int, *, floor: float, ceiling: float, name: str | None = None,
                metrics: dict[str, float] | None = None, details: dict | None = None,
                clusters: np.ndarray | None = None) -> ScoreReport:
    """The primary score is the mean of per-instance ``values`` (hits, successes, per-pair accuracies) with a
    bootstrap CI over instances; ``values`` are kept for paired comparisons of two methods. ``name``: the primary
    metric's name, added to ``metrics``. Float values keep their precision (a float32 mean is the score of a
    float32 measurement); hits and counts become float64. ``clusters`` (one id per instance: its level, maze or
    episode) makes the CI resample clusters rather than instances (``mirl.scoring.cluster_bootstrap_ci``)."""
    values = np.asarray(values)
    values = values if np.issubdtype(values.dtype, np.floating) else values.astype(np.float64)
    score = float(values.mean())
    rng = bootstrap_rng(seed)
    ci = mean_ci(values, rng) if clusters is None else cluster_bootstrap_ci(np.mean, values, clusters=clusters, rng=rng)
    return ScoreReport(metrics={**({name: score} if name else {}), **(metrics or {})}, score=score, ci=ci,
                       instances=values, n=len(values), floor=floor, ceiling=ceiling, details=details or {})


def statistic_report(statistic: Callable[..., float], *arrays: np.ndarray, seed: int, floor: float, ceiling: float,
                     name: str | None = None, metrics: dict[str, float] | None = None, n_boot: int = 1000,
                     rowwise: Callable[..., np.ndarray] | None = None, details: dict | None = None,
                     clusters: np.ndarray | None = None) -> ScoreReport:
    """The primary score is ``statistic(*arrays)`` over the instances (AUROC, balanced accuracy, a rank
    correlation), its CI a percentile bootstrap resampling them (see ``mirl.scoring.bootstrap_ci``), or their
    ``clusters`` (``mirl.scoring.cluster_bootstrap_ci``)."""
    score = float(statistic(*arrays))
    rng = bootstrap_rng(seed)
    ci = (bootstrap_ci(statistic, *arrays, rng=rng, n_boot=n_boot, rowwise=rowwise) if clusters is None else
          cluster_bootstrap_ci(statistic, *arrays, clusters=clusters, rng=rng, n_boot=n_boot))
    return ScoreReport(metrics={**({name: score} if name else {}), **(metrics or {})}, score=score, ci=ci,
                       n=len(arrays[0]), floor=floor, ceiling=ceiling, details=details or {})


def rate_curve_ci(auc: float, rates: list[float], base: float, n: int) -> tuple[float, float]:
    """95% CI of the mean over k of (rate at k − ``base``), each rate a fraction of the same ``n`` episodes: a
    normal approximation from the binomial variances, so that an ablation curve is scored with one play per k."""
    se = math.sqrt(sum(r * (1 - r) / n for r in rates) / len(rates) ** 2 + base * (1 - base) / n)
    return (auc - 1.96 * se, auc + 1.96 * se)
