"""Measure plan-locate's normalisation floor: the loss AUC of random unit orderings.

    python -m mirl.tasks.sokoban.calibrate [--orderings 8]

Each ordering is a uniformly random ranking of the DRC's 64 hidden-state channels (layer × tick × channel),
scored exactly as an answer would be (seed i's test levels, its own ablation runs). Pin the printed mean as
``RANDOM_ORDERING_AUC`` in tasks.py whenever the agent (its sha256) changes, and bump the task version.
"""

from __future__ import annotations

from mirl.calibration import main, random_ordering_scores


def random_ordering_aucs(orderings: int) -> list[float]:
    from .sizes import DRC_CHANNELS
    from .tasks import AGENT_SHA256, H_HOOKS, PlanLocate

    if AGENT_SHA256 is None:
        raise SystemExit("sokoban-drc is not shipped yet: pin its sha256 in tasks.py first")
    task = PlanLocate(AGENT_SHA256)
    means = task.unit_means(task.load_agent())
    return random_ordering_scores(task, {h: DRC_CHANNELS for h in H_HOOKS}, orderings, means)


if __name__ == "__main__":
    main(random_ordering_aucs, __doc__.splitlines()[0])
