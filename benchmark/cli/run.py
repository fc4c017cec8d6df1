"""`mirl run` and `mirl bench`: evaluate (task, method) pairs, store the results, log them to W&B."""

from __future__ import annotations

import fnmatch
import json
import sys

from mirl.errors import MirlError
from mirl.paths import mirl_home, wandb_root
from mirl.pluginhost import get_methods, get_tasks


def _open_sinks(no_wandb: bool):
    from mirl.leaderboards.store import ResultStore

    store = ResultStore(mirl_home())  # fails before any compute is spent if MIRL_HOME is unusable
    sink = None
    if not no_wandb:
        from mirl.leaderboards.wandb_sink import WandbSink

        sink = WandbSink(wandb_root())
    return store, sink


def _execute(pairs, seed: int, store, sink) -> list:
    from mirl.runner import evaluate, record

    tasks, methods = get_tasks(), get_methods()
    results = []
    for i, (task, method) in enumerate(pairs, start=1):
        result = evaluate(
            task, method, seed=seed,
            method_plugin=methods.provider(method.info.name), task_plugin=tasks.provider(task.spec.id),
        )
        record(result, store, sink)
        if result.status == "ok":
            outcome = f"{result.primary_metric} {result.score:.3f} [{result.ci[0]:.3f}, {result.ci[1]:.3f}]"
        else:
            outcome = f"FAILED: {result.error}"
        print(f"[{i}/{len(pairs)}] {task.spec.id} × {method.info.name}: {outcome} "
              f"({result.compute.wall_seconds:.1f} s)", file=sys.stderr)
        results.append(result)
    return results


def _compatible(task, method) -> bool:
    return method.supports(task.spec.answer_kind, task.spec.family)


def run(args) -> int:
    tasks, methods = get_tasks(), get_methods()
    chosen_tasks = [tasks.get(t) for t in args.tasks]  # unknown ids raise with a "did you mean"
    chosen_methods = [methods.get(m) for m in args.method]
    pairs = []
    for task in chosen_tasks:
        for method in chosen_methods:
            if _compatible(task, method):
                pairs.append((task, method))
            else:
                print(f"mirl: skipping {task.spec.id} × {method.info.name}: the method does not produce "
                      f"{task.spec.answer_kind} answers for family {task.spec.family!r}", file=sys.stderr)
    if not pairs:
        raise MirlError("no requested method can answer the requested tasks; `mirl methods` shows what each answers")
    store, sink = _open_sinks(args.no_wandb)
    results = _execute(pairs, args.seed, store, sink)
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in results], indent=2))
    else:
        from mirl.cli.leaderboard import print_boards

        print_boards(store, [t.spec.id for t in chosen_tasks], "table")
    return 0 if all(r.status == "ok" for r in results) else 1


def bench(args) -> int:
    tasks, methods = get_tasks(), get_methods()
    chosen_tasks = [t for t in tasks if fnmatch.fnmatchcase(t.spec.id, args.tasks)]
    if not chosen_tasks:
        raise MirlError(f"no task matches {args.tasks!r}; `mirl tasks` lists them")
    chosen_methods = [methods.get(m) for m in args.methods] if args.methods else list(methods)
    pairs = [(t, m) for t in chosen_tasks for m in chosen_methods if _compatible(t, m)]
    if not pairs:
        raise MirlError("no installed method can answer the selected tasks")
    store, sink = _open_sinks(args.no_wandb)
    _execute(pairs, args.seed, store, sink)
    from mirl.cli.leaderboard import print_boards

    print_boards(store, [t.spec.id for t in chosen_tasks], args.format)
    return 0
