"""Measure saw-locate's normalisation floor: the selectivity AUC of random channel orderings.

    python -m mirl.tasks.coinrun.calibrate [--orderings 8]

Each ordering is a uniformly random ranking of the 160 conv channels, scored exactly as an answer would be
(seed i's test split, its own ablation runs). Pin the printed mean as ``RANDOM_ORDERING_AUC`` in tasks.py
whenever the agent (its sha256) changes, and bump the task version.
"""

from __future__ import annotations

from mirl.calibration import main, random_ordering_scores


def random_ordering_aucs(orderings: int) -> list[float]:
    from .tasks import CONV_HOOKS, SawLocate

    task = SawLocate()
    means = task.unit_means(task.load_agent())
    return random_ordering_scores(task, {h: shape[0] for h, shape in CONV_HOOKS.items()}, orderings, means)


if __name__ == "__main__":
    main(random_ordering_aucs, __doc__.splitlines()[0])
