"""Leaderboards as text: a terminal table, Markdown or JSON."""

from __future__ import annotations

import json

from mirl.leaderboards.stats import Row

COLUMNS = ("rank", "method", "score [95% CI]", "norm.", "n", "env steps", "fwd passes", "seconds", "date",
           "seeds: mean ± sd")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _cells(row: Row) -> list[str]:
    if row.status != "ok":
        reason = (row.error or "")[:60]
        return ["×", row.method, f"failed: {reason}", "", "", "", "", _fmt(row.wall_seconds, 1), row.date, ""]
    rank = "ref" if row.reference else f"{row.rank}=" if row.tied else str(row.rank)
    score = f"{_fmt(row.score)} [{_fmt(row.ci_low)}, {_fmt(row.ci_high)}]"
    return [
        rank, row.method + (" (in-process)" if row.marked_in_process else ""), score, _fmt(row.normalized_score, 2),
        str(row.n), str(row.env_steps),
        str(row.forward_passes), _fmt(row.wall_seconds, 1), row.date,
        f"{row.seeds}: {_fmt(row.seed_mean, 2)} ± {_fmt(row.seed_sd, 2)}" if row.seed_sd is not None else str(row.seeds),
    ]


def render_table(boards: dict[str, list[Row]], metric_names: dict[str, str]) -> str:
    parts = []
    for task, rows in boards.items():
        body = [list(COLUMNS)] + [_cells(r) for r in rows]
        widths = [max(len(line[i]) for line in body) for i in range(len(COLUMNS))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in body]
        lines.insert(1, "  ".join("-" * w for w in widths))
        parts.append(f"{task}  ({metric_names.get(task, 'score')})\n" + "\n".join(lines))
    if not parts:
        return "no results yet: run `mirl bench` or `mirl run TASK --method NAME`"
    return "\n\n".join(parts) + ("\n\n(= : tied, 95% CIs overlap the row above; ref: a reference that reads the "
                                  "ground truth, shown for scale, not ranked)")


def render_markdown(boards: dict[str, list[Row]], metric_names: dict[str, str]) -> str:
    parts = []
    for task, rows in boards.items():
        lines = [f"### {task} ({metric_names.get(task, 'score')})", "", "| " + " | ".join(COLUMNS) + " |",
                 "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in _cells(r)) + " |" for r in rows]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) if parts else "_no results yet_"


def render_json(boards: dict[str, list[Row]], metric_names: dict[str, str]) -> str:
    return json.dumps(
        {task: {"primary_metric": metric_names.get(task), "rows": [r.as_dict() for r in rows]}
         for task, rows in boards.items()},
        indent=2,
    )


RENDERERS = {"table": render_table, "md": render_markdown, "json": render_json}
