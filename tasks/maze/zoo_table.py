"""The README's zoo table from the shipped cards (shipping pins each agent: ``mirl agents train maze --ship``).

    python -m mirl.tasks.maze.zoo_table
"""

from __future__ import annotations

import json


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


if __name__ == "__main__":
    print(table())
