"""Agent pins: the sha256 of each shipped agent that a family's tasks stand on, kept in ``pins.json`` beside the
checkpoints (agent id → sha256, in the order they were pinned) and read when the family registers its tasks.

A task refuses to run an agent whose checkpoint does not hash to its pin, so a pin is part of what a task id
means: it is written once, when the agent first ships, and a different agent under a pinned id is a new task
version, not a new pin (``write_pin`` refuses it).
"""

from __future__ import annotations

import json
from pathlib import Path

from mirl.errors import MirlError

PINS_FILE = "pins.json"


def read_pins(folder: Path) -> dict[str, str]:
    """The family folder's pins ({} before any agent ships)."""
    path = Path(folder) / PINS_FILE
    try:
        pins = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise MirlError(f"{path} is not valid JSON ({exc}); restore it from git") from None
    if not isinstance(pins, dict) or not all(isinstance(v, str) and len(v) == 64 for v in pins.values()):
        raise MirlError(f"{path} must map agent ids to sha256 hex digests; restore it from git")
    return pins


def write_pin(folder: Path, agent_id: str, sha256: str) -> bool:
    """Pin ``agent_id`` to ``sha256`` in the folder's pins (appended); True if it was new, False if already so
    pinned. A different sha256 under a pinned id is refused: the tasks that pin it need new versions first."""
    pins = read_pins(folder)
    if pins.get(agent_id) == sha256:
        return False
    if agent_id in pins:
        raise MirlError(f"{agent_id} is pinned to {pins[agent_id][:12]}…, not {sha256[:12]}…: a new agent under a "
                        "pinned id changes what its tasks mean; bump their versions, then edit "
                        f"{Path(folder) / PINS_FILE}")
    pins[agent_id] = sha256
    (Path(folder) / PINS_FILE).write_text(json.dumps(pins, indent=2) + "\n")
    return True
