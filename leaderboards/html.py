"""The leaderboard as one self-contained HTML page: an overall table of normalised scores, per task a table, a
bar chart with 95% CIs and a compute-vs-score scatter with its Pareto front, then task and method cards.

Charts are inline SVG drawn here (no scripts, no external files), so the page opens anywhere and prints.
"""

from __future__ import annotations

import html
import math
from typing import Any

from mirl.leaderboards.stats import Row
from mirl.schemas import superseded

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.m,th.m{text-align:left}.failed{color:#a00}.tied{color:#555}
section.task{border-top:2px solid #ddd;margin-top:2em}dl{display:grid;grid-template-columns:12em 1fr;gap:.2em 1em}
dt{font-weight:600}svg{background:#fafafa;border:1px solid #eee;margin:.3em;vertical-align:top}.cards{font-size:.9em}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def overall_table(boards: dict[str, list[Row]]) -> str:
    """Methods × tasks of normalised scores (floor → 0, ceiling → 1) and each method's mean over its tasks; a task
    shown at two versions counts once in the mean, at its latest (the same question must not weigh twice)."""
    tasks = list(boards)
    old = superseded(tasks)
    methods = sorted({r.method for rows in boards.values() for r in rows if r.status == "ok"})
    cells = {(r.method, t): r.normalized_score for t, rows in boards.items() for r in rows if r.status == "ok"}
    head = "".join(f"<th class='superseded'>{_e(t)} (superseded)</th>" if t in old else f"<th>{_e(t)}</th>"
                   for t in tasks)
    body = []
    means = {}
    for m in methods:
        values = [cells[(m, t)] for t in tasks if t not in old and cells.get((m, t)) is not None]
        means[m] = sum(values) / len(values) if values else None
    references = {r.method for rows in boards.values() for r in rows if r.status == "ok" and r.reference}
    for m in sorted(methods, key=lambda m: (m in references, -(means[m] if means[m] is not None else -math.inf))):
        row = "".join(f"<td>{_num(cells.get((m, t)), 2)}</td>" for t in tasks)
        label = f"{_e(m)} (reference)" if m in references else _e(m)
        body.append(f"<tr><td class='m'>{label}</td>{row}<td><b>{_num(means[m], 2)}</b></td></tr>")
    return (f"<table class='overall'><tr><th class='m'>method</th>{head}<th>mean</th></tr>{''.join(body)}</table>"
            "<p>Normalised scores: each task's floor → 0, its ceiling or reference → 1; the mean is over the tasks "
            "a method was scored on, each at its latest version (superseded versions are shown, not averaged).</p>")


def task_table(rows: list[Row]) -> str:
    head = ("<tr><th>rank</th><th class='m'>method</th><th>score</th><th>95% CI</th><th>norm.</th><th>n</th>"
            "<th>env steps</th><th>fwd passes</th><th>seconds</th><th>date</th><th>seeds: mean ± sd</th></tr>")
    body = []
    for r in rows:
        if r.status != "ok":
            body.append(f"<tr class='failed'><td>×</td><td class='m'>{_e(r.method)}</td>"
                        f"<td colspan='9' class='m'>failed: {_e(r.error)}</td></tr>")
            continue
        rank = ("<span title='a reference that reads the ground truth: shown for scale, not ranked'>ref</span>"
                if r.reference else f"{r.rank}=" if r.tied else str(r.rank))
        unsealed = (" <span title='solve() ran in the scoring process (--in-process), not in a sealed worker'>"
                    "(in-process)</span>" if r.marked_in_process else "")
        body.append(
            f"<tr{' class=tied' if r.tied else ''}><td>{rank}</td><td class='m'>{_e(r.method)} v{_e(r.method_version)}"
            f"{unsealed}</td><td>{_num(r.score)}</td><td>[{_num(r.ci_low)}, {_num(r.ci_high)}]</td>"
            f"<td>{_num(r.normalized_score, 2)}</td><td>{r.n}</td><td>{r.env_steps}</td><td>{r.forward_passes}</td>"
            f"<td>{_num(r.wall_seconds, 1)}</td><td>{_e(r.date)}</td><td>{r.seeds}"
            + (f": {_num(r.seed_mean, 2)} ± {_num(r.seed_sd, 2)}" if r.seed_sd is not None else "") + "</td></tr>")
    return f"<table class='task'>{head}{''.join(body)}</table>"


def bar_chart(rows: list[Row], metric: str) -> str:
    """Horizontal bars of the primary score with 95% CI whiskers, one per method."""
    ok = [r for r in rows if r.status == "ok" and r.score is not None]
    if not ok:
        return ""
    values = [v for r in ok for v in (r.score, r.ci_low, r.ci_high, 0.0) if v is not None]
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    width, left, bar_h = 560, 160, 22
    height = 30 + bar_h * len(ok)
    x = lambda v: left + (v - lo) / span * (width - left - 20)  # noqa: E731
    parts = [f"<svg class='bars' width='{width}' height='{height}' role='img' aria-label='{_e(metric)} by method'>",
             f"<line x1='{x(0):.1f}' y1='5' x2='{x(0):.1f}' y2='{height - 20}' stroke='#999'/>"]
    for i, r in enumerate(ok):
        y = 10 + i * bar_h
        x0, x1 = sorted((x(0), x(r.score)))
        parts.append(f"<text x='5' y='{y + 14}' font-size='12'>{_e(r.method)}</text>"
                     f"<rect x='{x0:.1f}' y='{y}' width='{max(x1 - x0, 1):.1f}' height='{bar_h - 6}' fill='#4a7'/>")
        if r.ci_low is not None and r.ci_high is not None:
            ym = y + (bar_h - 6) / 2
            parts.append(f"<line class='ci' x1='{x(r.ci_low):.1f}' y1='{ym}' x2='{x(r.ci_high):.1f}' y2='{ym}' "
                         "stroke='#222' stroke-width='1.5'/>")
    parts.append(f"<text x='{left}' y='{height - 5}' font-size='11'>{_e(metric)}: {lo:.3g} … {hi:.3g}</text></svg>")
    return "".join(parts)


def pareto_front(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Points (cost, score, name) not beaten by another that costs no more and scores at least as much."""
    front = []
    for cost, score, name in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or score > front[-1][1]:
            front.append((cost, score, name))
    return front


def scatter(rows: list[Row]) -> str:
    """Compute (wall seconds, log scale) against the normalised score, with the Pareto front drawn through."""
    points = [(max(r.wall_seconds, 1e-3), r.normalized_score, r.method) for r in rows
              if r.status == "ok" and r.normalized_score is not None]
    if not points:
        return ""
    width, height, pad = 420, 260, 40
    lx = [math.log10(p[0]) for p in points]
    xmin, xmax = min(lx) - 0.3, max(lx) + 0.3
    ys = [p[1] for p in points] + [0.0, 1.0]
    ymin, ymax = min(ys) - 0.05, max(ys) + 0.05
    sx = lambda c: pad + (math.log10(c) - xmin) / (xmax - xmin) * (width - 2 * pad)  # noqa: E731
    sy = lambda s: height - pad - (s - ymin) / (ymax - ymin) * (height - 2 * pad)  # noqa: E731
    parts = [f"<svg class='scatter' width='{width}' height='{height}' role='img' aria-label='compute vs score'>",
             f"<line x1='{pad}' y1='{height - pad}' x2='{width - pad}' y2='{height - pad}' stroke='#999'/>",
             f"<line x1='{pad}' y1='{pad}' x2='{pad}' y2='{height - pad}' stroke='#999'/>",
             f"<text x='{pad}' y='{height - 8}' font-size='11'>method wall seconds (log)</text>",
             f"<text x='4' y='{pad - 10}' font-size='11'>normalised score</text>"]
    front = pareto_front(points)
    if len(front) > 1:
        path = " ".join(f"{sx(c):.1f},{sy(s):.1f}" for c, s, _ in front)
        parts.append(f"<polyline class='pareto' points='{path}' fill='none' stroke='#c60' stroke-dasharray='4 3'/>")
    for cost, score, name in points:
        parts.append(f"<circle cx='{sx(cost):.1f}' cy='{sy(score):.1f}' r='4' fill='#36a'><title>{_e(name)}: "
                     f"{score:.2f} in {cost:.1f} s</title></circle>"
                     f"<text x='{sx(cost) + 6:.1f}' y='{sy(score) + 4:.1f}' font-size='10'>{_e(name)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _card(title: str, fields: dict[str, Any]) -> str:
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in fields.items() if v not in (None, "", [], {}))
    return f"<div class='card'><h4>{_e(title)}</h4><dl>{items}</dl></div>"


def task_card(spec: Any) -> str:
    return _card(spec.id, {
        "title": spec.title, "question": spec.question, "answer": spec.answer_kind, "primary metric":
        spec.primary_metric, "description": spec.description, "floor": spec.normalization.floor_source,
        "ceiling": spec.normalization.ceiling_source, "agent": f"{spec.agent.id} (sha256 {spec.agent.sha256[:12]}…)",
        "budget": f"{spec.budget.env_steps:,} env steps, {spec.budget.forward_passes:,} forward passes, "
                  f"{spec.budget.wall_seconds:g} s", "references": "; ".join(spec.references),
    })


def method_card(info: Any) -> str:
    return _card(f"{info.name} v{info.version}", {
        "description": info.description, "answers": ", ".join(info.answer_kinds),
        "families": ", ".join(info.families) if info.families else "all",
        "references": "; ".join(info.references), "hyperparameters": info.hyperparameters,
        "compute": info.compute,
    })


def render_html(boards: dict[str, list[Row]], metric_names: dict[str, str], task_specs: dict[str, Any],
                method_infos: dict[str, Any], title: str = "mirl leaderboard") -> str:
    sections = []
    for task, rows in boards.items():
        metric = metric_names.get(task, "score")
        sections.append(
            f"<section class='task' id='{_e(task)}'><h2>{_e(task)}</h2><p>primary metric: <b>{_e(metric)}</b>"
            f" (= : tied, 95% CIs overlap the row above)</p>{task_table(rows)}"
            f"<div class='charts'>{bar_chart(rows, metric)}{scatter(rows)}</div>"
            f"{task_card(task_specs[task]) if task in task_specs else ''}</section>")
    used = sorted({r.method for rows in boards.values() for r in rows})
    cards = "".join(method_card(method_infos[m]) for m in used if m in method_infos)
    body = (overall_table(boards) + "".join(sections) + f"<section class='cards'><h2>Methods</h2>{cards}</section>"
            if boards else "<p>No results yet: run <code>mirl bench</code>.</p>")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{_e(title)}</h1>{body}</body></html>\n")
