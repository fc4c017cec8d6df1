"""`mirl leaderboard`: per task, best first, from the local store."""

from __future__ import annotations

import sys

from mirl.paths import mirl_home


def print_boards(store, task_ids: list[str] | None, fmt: str, out: str | None = None) -> None:
    from mirl.leaderboards.render import RENDERERS
    from mirl.leaderboards.stats import leaderboards

    results = store.results()
    if task_ids is not None:
        wanted = set(task_ids)
        results = [r for r in results if r.task_id in wanted]
    metric_names = {r.task_id: r.primary_metric for r in results}
    boards = leaderboards(results)
    if fmt == "html":
        from mirl.leaderboards.html import render_html
        from mirl.pluginhost import get_methods, get_tasks

        text = render_html(boards, metric_names, {t.spec.id: t.spec for t in get_tasks()},
                           {m.info.name: m.info for m in get_methods()})
    else:
        text = RENDERERS[fmt](boards, metric_names)
    if out is None:
        print(text)
        return
    from pathlib import Path

    try:
        Path(out).write_text(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        from mirl.errors import MirlError

        raise MirlError(f"cannot write the leaderboard to {out} ({exc.strerror or exc}); choose a writable path") from None
    print(f"wrote {out}", file=sys.stderr)


def main(args) -> int:
    from mirl.leaderboards.store import ResultStore

    store = ResultStore(mirl_home(), move_corrupt_aside=args.rebuild)
    if store.moved_aside is not None:
        print(f"mirl: {store.db_path.name} was not a usable SQLite database; moved it to {store.moved_aside} "
              "and started a fresh one", file=sys.stderr)
    if args.rebuild:
        added = store.rebuild_from_json()
        print(f"restored {added} result(s) from {store.json_dir}", file=sys.stderr)
    print_boards(store, [args.task] if args.task else None, args.format, args.out)
    if args.wandb:
        push_to_wandb(store, [args.task] if args.task else None)
    return 0


def push_to_wandb(store, task_ids: list[str] | None) -> None:
    from mirl.leaderboards.stats import leaderboards
    from mirl.leaderboards.store import dump_results
    from mirl.leaderboards.wandb_sink import WandbSink
    from mirl.paths import wandb_root

    results = store.results()
    if task_ids is not None:
        results = [r for r in results if r.task_id in set(task_ids)]
    boards = {task: [row.as_dict() for row in rows] for task, rows in leaderboards(results).items()}
    run_dir = WandbSink(wandb_root()).push_leaderboards(boards, dump_results(results))
    if run_dir:
        print(f"pushed {len(boards)} leaderboard(s) and {len(results)} result(s) to W&B ({run_dir})", file=sys.stderr)
