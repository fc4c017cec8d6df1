"""Pin every shipped zoo agent's sha256 (from its card) in tasks.py's ``ZOO_SHA256``, in zoo order.

    python -m mirl.tasks.maze.pin_zoo      # from a source checkout (pip install -e .): edits tasks/maze/tasks.py

Run it after `train_zoo.sh` ships agents; tests/test_maze_tasks.py fails while a shipped agent is unpinned.
"""

from __future__ import annotations

import json
import re
from pathlib import Path


def pinned_block() -> str:
    from .agent import zoo

    lines = ['    "maze-ppo": AGENT_SHA256,']
    for spec in zoo():
        if spec.id != "maze-ppo" and spec.card_path.exists():
            lines.append(f'    "{spec.id}": "{json.loads(spec.card_path.read_text())["sha256"]}",')
    return "ZOO_SHA256 = {\n" + "\n".join(lines) + "\n}"


def main() -> None:
    path = Path(__file__).with_name("tasks.py")
    block = pinned_block()
    path.write_text(re.sub(r"ZOO_SHA256 = \{\n.*?\n\}", lambda _: block, path.read_text(), count=1, flags=re.S))
    print(block)


if __name__ == "__main__":
    main()
