"""The README's zoo table from the shipped cards (shipping pins each agent: ``mirl agents train maze --ship``).

    python -m mirl.tasks.maze.zoo_table
"""

from __future__ import annotations

import json


def table() -> str:
    """The README's zoo table: per shipped agent, in-distribution success and the off-path outcomes (pooled over
    the card's three seeds)."""
    from .agent import zoo

    rows = ["| agent | r | seed | in-distribution success | off-path goal first [95% CI] / corner first / neither | "
            "wall s |", "|---|---|---|---|---|---|"]
    for spec in zoo():
        if not spec.card_path.exists():
            continue
        card = json.loads(spec.card_path.read_text())
        m, low, high = card["metrics"], *card["intervals"]["off_path_goal_first"]
        region = card.get("environment", {}).get("goal_region_training")
        rows.append(f"| `{spec.id}` | {region or 'full'} | {card['seed']} | {m['success_training_distribution']:.1%} | "
                    f"{m['off_path_goal_first']:.1%} [{low:.1%}, {high:.1%}] / {m['off_path_corner_first']:.1%} / "
                    f"{m['off_path_neither']:.1%} "
                    f"| {card['wall_seconds']:.0f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
