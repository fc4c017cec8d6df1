"""`mirl leaderboard`: per task, best first, from the local store."""

from __future__ import annotations

import sys

from mirl.paths import mirl_home


def print_boards(store, task_ids: list[str] | None, fmt: str) -> None:
    from mirl.leaderboards.render import RENDERERS
    from mirl.leaderboards.stats import leaderboards

    results = store.results()
    if task_ids is not None:
        wanted = set(task_ids)
        results = [r for r in results if r.task_id in wanted]
    metric_names = {r.task_id: r.primary_metric for r in results}
    print(RENDERERS[fmt](leaderboards(results), metric_names))


def main(args) -> int:
    from mirl.leaderboards.store import ResultStore

    store = ResultStore(mirl_home())
    if args.rebuild:
        added = store.rebuild_from_json()
        print(f"restored {added} result(s) from {store.json_dir}", file=sys.stderr)
    print_boards(store, [args.task] if args.task else None, args.format)
    return 0
