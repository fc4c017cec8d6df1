"""Pin every shipped zoo agent's sha256 (from its card) in tasks.py's ``ZOO_SHA256``, in zoo order.

    python -m mirl.tasks.maze.pin_zoo          # from a source checkout (pip install -e .): edits tasks/maze/tasks.py
    python -m mirl.tasks.maze.pin_zoo --table  # also print the shipped agents' card numbers as a Markdown table

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


def table() -> str:
    """The README's zoo table: per shipped agent, in-distribution success and the off-path outcomes."""
    from .agent import zoo

    rows = ["| agent | r | seed | in-distribution success | off-path goal first / corner first / neither | wall s |",
            "|---|---|---|---|---|---|"]
    for spec in zoo():
        if not spec.card_path.exists():
            continue
        card = json.loads(spec.card_path.read_text())
        m = card["metrics"]
        region = card.get("environment", {}).get("goal_region_training")
        rows.append(f"| `{spec.id}` | {region or 'full'} | {card['seed']} | {m['success_training_distribution']:.1%} | "
                    f"{m['off_path_goal_first']:.1%} / {m['off_path_corner_first']:.1%} / {m['off_path_neither']:.1%} "
                    f"| {card['wall_seconds']:.0f} |")
    return "\n".join(rows)


def main() -> None:
    import sys

    path = Path(__file__).with_name("tasks.py")
    block = pinned_block()
    path.write_text(re.sub(r"ZOO_SHA256 = \{\n.*?\n\}", lambda _: block, path.read_text(), count=1, flags=re.S))
    print(block)
    if "--table" in sys.argv[1:]:
        print(table())


if __name__ == "__main__":
    main()
