"""Measure saw-locate's normalisation floor: the selectivity AUC of random channel orderings.

    python -m mirl.tasks.coinrun.calibrate [--orderings 8]

Each ordering is a uniformly random ranking of the 160 conv channels, scored exactly as an answer would be
(seed i's test split, its own ablation runs). Pin the printed mean as ``RANDOM_ORDERING_AUC`` in tasks.py
whenever the agent (its sha256) changes, and bump the task version.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def random_ordering_aucs(orderings: int) -> list[float]:
    from mirl.seeding import derive_seed, test_seed

    from .tasks import CONV_HOOKS, SawLocate

    task = SawLocate()
    agent = task.load_agent()
    means = task.channel_means(agent)
    aucs = []
    for i in range(orderings):
        rng = np.random.default_rng(derive_seed(i, "random-ordering"))
        scores = {h: rng.random(shape[0]) for h, shape in CONV_HOOKS.items()}
        curve = task.curve(agent, task.ordering(scores, i), test_seed(i), means)
        aucs.append(task.score_curve(curve).score)
    return aucs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orderings", type=int, default=8)
    args = parser.parse_args()
    started = time.perf_counter()
    aucs = random_ordering_aucs(args.orderings)
    print(json.dumps({"random_ordering_aucs": aucs, "mean": float(np.mean(aucs)),
                      "sd": float(np.std(aucs, ddof=1)) if len(aucs) > 1 else None,
                      "seconds": round(time.perf_counter() - started, 1)}, indent=2))


if __name__ == "__main__":
    main()
