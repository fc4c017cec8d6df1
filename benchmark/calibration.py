"""Calibrating a unit-ranking task's normalisation floor: the mean score of uniformly random unit orderings.

Ablation-curve tasks (coinrun/saw-locate, sokoban/plan-locate) score an ordering by ablating its top units;
what a random ordering scores depends on the agent, so it is measured once per shipped agent and pinned in the
task (re-measure and bump the task version whenever the agent's sha256 changes). A family's ``calibrate``
module calls this with its task.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable

import numpy as np


def unit_ordering(scores: dict[str, Any], units: dict[str, int], seed: int) -> list[tuple[str, int]]:
    """Every unit as (hook, index), best first, from a unit_scores answer's per-hook scores (flattened);
    ``units`` is hook → units, in the order units are listed. Ties are broken by a shuffle seeded with
    ``seed``, so constant scores give a random order and no hook's units are favoured."""
    from mirl.seeding import derive_seed

    listed = [(h, i) for h, n in units.items() for i in range(n)]
    values = np.concatenate([np.asarray(scores[h], dtype=np.float64).reshape(-1) for h in units])
    shuffle = np.random.default_rng(derive_seed(seed, "ties")).permutation(len(listed))
    return [listed[i] for i in shuffle[np.argsort(-values[shuffle], kind="stable")]]


def random_ordering_scores(task: Any, unit_counts: dict[str, int], orderings: int, means: Any = None) -> list[float]:
    """Score ``orderings`` random orderings exactly as answers are scored: ordering i on seed i's test split.

    ``task`` provides ``load_agent()``, ``ordering(scores, seed)``, ``curve(agent, order, seed, means)`` and
    ``score_curve(curve)``; ``unit_counts`` is hook → units scored at that hook."""
    from mirl.seeding import derive_seed, test_seed

    agent = task.load_agent()
    scores = []
    for i in range(orderings):
        rng = np.random.default_rng(derive_seed(i, "random-ordering"))
        order = task.ordering({h: rng.random(n) for h, n in unit_counts.items()}, i)
        scores.append(task.score_curve(task.curve(agent, order, test_seed(i), means)).score)
    return scores


def main(measure: Callable[[int], list[float]], description: str) -> None:
    """A family calibrate module's command line: ``--orderings N``, prints the scores, their mean and sd."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--orderings", type=int, default=8)
    args = parser.parse_args()
    started = time.perf_counter()
    scores = measure(args.orderings)
    print(json.dumps({"random_ordering_aucs": scores, "mean": float(np.mean(scores)),
                      "sd": float(np.std(scores, ddof=1)) if len(scores) > 1 else None,
                      "seconds": round(time.perf_counter() - started, 1)}, indent=2))
