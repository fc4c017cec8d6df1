"""Build plan-steer-v2's levels: the ones on which the pinned agent itself takes the shortcut.

    python -m mirl.tasks.sokoban.steer_levels [--split train|test]

Runs ``agent_shortcut_levels`` with the pinned sokoban-drc on each split (both by default; the two can run as
two processes) and writes ``plan-steer-v2.{split}-levels.npz`` next to this file; pin the printed sha256s in
``STEER_LEVELS_SHA256`` in tasks.py. Shipped rather than built at scoring time because about 1 candidate level
in 50 qualifies (fewer for the test split, whose turned levels must stay test levels): minutes per split on one
CPU thread. Rebuild (and bump the task version) whenever the agent's sha256 changes.
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np

from mirl.seeding import derive_seed

STEER_LEVELS = {"train": 600, "test": 300}


def build(split: str) -> dict[str, np.ndarray]:
    from .tasks import AGENT_SHA256, PlanSteer, agent_shortcut_levels

    agent = PlanSteer(AGENT_SHA256).load_agent()
    started = time.monotonic()
    levels = agent_shortcut_levels(agent, derive_seed(0, "plan-steer-v2", split), STEER_LEVELS[split], split)
    print(f"{split}: {len(levels)} levels in {time.monotonic() - started:.0f} s", flush=True)
    return {"size": np.array([levels.height, levels.width]),
            **{field: getattr(levels, field) for field in ("walls", "targets", "boxes", "agent")}}


if __name__ == "__main__":
    import torch

    from .tasks import steer_levels_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=sorted(STEER_LEVELS), action="append",
                        help="build only this split (repeatable); default: both")
    torch.set_num_threads(1)
    for split in parser.parse_args().split or sorted(STEER_LEVELS):
        path = steer_levels_path(split)
        np.savez_compressed(path, **build(split))
        print(f"wrote {path}: sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}", flush=True)
