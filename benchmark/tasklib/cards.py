"""Card facts with intervals: a behavioural fact of an agent is measured on fresh episodes from several seeds, and
reported as their pooled mean with a 95% CI that resamples what the episodes share (their levels or mazes)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from mirl.scoring import cluster_bootstrap_ci
from mirl.seeding import derive_seed

CARD_SEEDS = (0, 1, 2)

Measure = Callable[[int], "tuple[np.ndarray, np.ndarray]"]
"""``measure(seed)`` → (per-instance values, their cluster ids), on fresh instances drawn from ``seed``."""


def measured_facts(measures: dict[str, Measure], seeds: tuple[int, ...] = CARD_SEEDS) -> dict:
    """``{"metrics": {name: pooled mean}, "intervals": {name: [low, high]}, "card_seeds": [...]}`` for a card:
    each measure is run on every seed, the instances pooled (clusters are kept apart by seed), and the 95% CI is a
    cluster bootstrap over them."""
    metrics, intervals = {}, {}
    for name, measure in measures.items():
        values, clusters = [], []
        for seed in seeds:
            v, c = measure(seed)
            values.append(np.asarray(v, dtype=np.float64))
            clusters.append(np.array([f"{seed}:{k}" for k in np.asarray(c).tolist()]))
        pooled = np.concatenate(values)
        metrics[name] = float(pooled.mean())
        rng = np.random.default_rng(derive_seed(0, "card", name))
        intervals[name] = list(cluster_bootstrap_ci(np.mean, pooled, clusters=np.concatenate(clusters), rng=rng))
    return {"metrics": metrics, "intervals": intervals, "card_seeds": list(seeds)}
