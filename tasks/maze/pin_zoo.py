"""Pin every shipped zoo agent's sha256 (from its card) in pins.json, where `mirl agents train --ship` has not
already (it pins what it ships).

    python -m mirl.tasks.maze.pin_zoo          # pins what is shipped and unpinned
    python -m mirl.tasks.maze.pin_zoo --table  # also print the shipped agents' card numbers as a Markdown table

tests/test_maze_tasks.py fails while a shipped agent is unpinned.
"""

from __future__ import annotations

import json
from pathlib import Path


def pin_shipped() -> list[str]:
    """The zoo agents newly pinned (a shipped one whose id is pinned to another sha256 is refused)."""
    from mirl.pins import write_pin

    from .agent import zoo

    return [spec.id for spec in zoo() if spec.card_path.exists()
            and write_pin(Path(__file__).parent, spec.id, json.loads(spec.card_path.read_text())["sha256"])]


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

    print("newly pinned:", ", ".join(pin_shipped()) or "none")
    if "--table" in sys.argv[1:]:
        print(table())


if __name__ == "__main__":
    main()
