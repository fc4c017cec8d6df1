"""What mirl's trainers (PPO, planting, offline sequences) share: settings read from a dict, and a run state
that resumes only under the settings it was trained with."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mirl.errors import MirlError

C = TypeVar("C")


@dataclass
class TrainedRun:
    """What a trainer other than PPO returns (``AgentSpec.trainer``): the agent and where the run stands."""

    agent: Any
    step: int
    wall_seconds: float
    finished: bool
    losses: dict[str, float]


def config_from_dict(cls: type[C], values: dict[str, Any], what: str) -> C:
    """``cls(**values)``, or a one-line error naming the unknown ``what`` settings and the known ones."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise MirlError(f"unknown {what} setting(s) {unknown}; known: {sorted(known)}")
    return cls(**values)


def load_run_state(state_path: Path, config: Any, what: str) -> dict:
    """A saved run state to resume, or a one-line error: none saved, or saved under other settings."""
    import torch

    try:
        saved = torch.load(state_path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise MirlError(f"no {what} state at {state_path}; start without --resume") from None
    if saved["config"] != dataclasses.asdict(config):
        raise MirlError(f"{state_path} was trained with other settings ({saved['config']}); resume with the same "
                        "settings or start a new run directory")
    return saved
