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


def _evaluate_run(task_id: str, method_name: str, seed: int):
    """One run, by names: what a worker process of ``mirl bench --jobs`` executes."""
    from mirl.runner import evaluate

    tasks, methods = get_tasks(), get_methods()
    return evaluate(tasks.get(task_id), methods.get(method_name), seed=seed,
                    method_plugin=methods.provider(method_name), task_plugin=tasks.provider(task_id))


def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)  # N workers on N cores: more threads each would only contend


def _completed(runs, jobs: int):
    """Yield (run, Result) as runs finish: in order in this process for one job, else from a pool of ``jobs``
    spawned processes (spawn, not fork: forking a process that has run torch's thread pool can deadlock)."""
    if jobs == 1:
        from mirl.runner import evaluate

        tasks, methods = get_tasks(), get_methods()
        for task, method, seed in runs:
            yield (task, method, seed), evaluate(task, method, seed=seed, method_plugin=methods.provider(
                method.info.name), task_plugin=tasks.provider(task.spec.id))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_torch_thread) as pool:
        futures = {pool.submit(_evaluate_run, t.spec.id, m.info.name, s): (t, m, s) for t, m, s in runs}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _execute(runs, store, sink, jobs: int = 1) -> list:
    """Evaluate and record (task, method, seed) runs, with a progress bar and ETA. Results are stored as each
    run finishes, so a stopped bench loses at most the runs in flight. ``jobs`` ≥ 1."""
    import time

    from mirl.runner import record

    results = []
    started = time.monotonic()
    for i, ((task, method, seed), result) in enumerate(_completed(runs, min(jobs, max(len(runs), 1))), start=1):
        record(result, store, sink)
        if result.status == "ok":
            outcome = f"{result.primary_metric} {result.score:.3f} [{result.ci[0]:.3f}, {result.ci[1]:.3f}]"
        else:
            outcome = f"FAILED: {result.error}"
        elapsed = time.monotonic() - started
        eta = elapsed / i * (len(runs) - i)
        bar = "#" * round(20 * i / len(runs))
        print(f"[{bar:<20}] {i}/{len(runs)} {task.spec.id} × {method.info.name} (seed {seed}): {outcome} "
              f"({result.compute.wall_seconds + result.compute.scoring_seconds:.1f} s; eta {eta / 60:.0f} min)",
              file=sys.stderr)
        results.append(result)
    return results


def _pair_key(task_id: str, agent_sha256: str, method: str, method_version: str, seed: int) -> tuple:
    return task_id, agent_sha256, method, method_version, seed


def verify(args) -> int:
    """Re-run a stored result's (task, method, seed) and say whether its primary score reproduces within the
    stored CI. Exit 0 if it does, 1 if not."""
    from mirl.leaderboards.store import ResultStore
    from mirl.runner import evaluate

    store = ResultStore(mirl_home())
    stored = store.get(args.result_id)
    if stored.status != "ok":
        raise MirlError(f"result {stored.result_id[:12]} failed ({stored.error}); only scored results can be verified")
    task, method = get_tasks().get(stored.task_id), get_methods().get(stored.method)
    if task.spec.agent.sha256 != stored.agent_sha256:
        raise MirlError(f"{stored.task_id} now pins agent {task.spec.agent.sha256[:12]}…, the result used "
                        f"{stored.agent_sha256[:12]}…; it cannot be re-run as it was")
    if method.info.version != stored.method_version:
        raise MirlError(f"{stored.method} is installed at version {method.info.version}, the result used "
                        f"{stored.method_version}; install that version to verify it")
    again = evaluate(task, method, seed=stored.seed)
    if again.status != "ok":
        raise MirlError(f"the re-run failed: {again.error}")
    low, high = stored.ci
    reproduced = low <= again.score <= high
    report = {"result_id": stored.result_id, "task": stored.task_id, "method": stored.method, "seed": stored.seed,
              "stored_score": stored.score, "stored_ci": [low, high], "rerun_score": again.score,
              "rerun_ci": list(again.ci), "reproduced": reproduced}
    if args.store:
        store.add(again)
        report["rerun_result_id"] = again.result_id
    print(json.dumps(report, indent=2))
    print(f"{'reproduced' if reproduced else 'NOT reproduced'}: {again.score:.4f} vs stored {stored.score:.4f} "
          f"[{low:.4f}, {high:.4f}]", file=sys.stderr)
    return 0 if reproduced else 1


def compare(args) -> int:
    """Paired bootstrap of two methods' stored results on one task and seed (same test instances)."""
    import numpy as np

    from mirl.leaderboards.store import ResultStore
    from mirl.scoring import paired_bootstrap
    from mirl.seeding import derive_seed

    store = ResultStore(mirl_home())
    latest = {}
    for r in store.results(task=args.task, status="ok"):
        if r.seed == args.seed and r.method in (args.method_a, args.method_b):
            latest[r.method] = r  # results come oldest first: the last one wins
    missing = [m for m in (args.method_a, args.method_b) if m not in latest]
    if missing:
        raise MirlError(f"no stored ok result of {missing} on {args.task} with seed {args.seed}; run `mirl run "
                        f"{args.task} --method {' '.join(missing)} --seed {args.seed}` first")
    a, b = latest[args.method_a], latest[args.method_b]
    if a.instances is None or b.instances is None:
        raise MirlError(f"{args.task}'s primary score is not a mean over test instances (or the results predate "
                        "per-instance values); compare their CIs on the leaderboard instead")
    if (a.task_version, a.agent_sha256, len(a.instances)) != (b.task_version, b.agent_sha256, len(b.instances)):
        raise MirlError("the two results were scored on different task versions, agents or test sets; rerun both")
    rng = np.random.default_rng(derive_seed(args.seed, "paired", args.method_a, args.method_b))
    out = {"task": args.task, "seed": args.seed, "a": args.method_a, "b": args.method_b,
           **paired_bootstrap(np.array(a.instances), np.array(b.instances), rng)}
    print(json.dumps(out, indent=2))
    verdict = ("a beats b" if out["ci_low"] > 0 else "b beats a" if out["ci_high"] < 0 else
               "no significant difference (the paired CI contains 0)")
    print(f"{args.method_a} − {args.method_b}: {out['difference']:+.4f} [{out['ci_low']:+.4f}, {out['ci_high']:+.4f}] "
          f"on {out['n']} paired instances: {verdict}", file=sys.stderr)
    return 0


def _compatible(task, method) -> bool:
    return method.supports(task.spec.answer_kind, task.spec.family, task.spec.offers)


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
    results = _execute([(t, m, args.seed) for t, m in pairs], store, sink)
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
    if args.stochastic_seeds < 1:
        raise MirlError(f"--stochastic-seeds must be at least 1, got {args.stochastic_seeds}")
    if args.jobs < 1:
        raise MirlError(f"--jobs must be at least 1, got {args.jobs}")
    from mirl.seeding import MAX_SEED

    if args.seed + args.stochastic_seeds > MAX_SEED:
        raise MirlError(f"--seed {args.seed} with --stochastic-seeds {args.stochastic_seeds} runs past seed "
                        "2**32 − 1; use a smaller --seed")
    # a stochastic method runs on several seeds, so the leaderboard can show its seed-to-seed spread
    runs = [(t, m, args.seed + k) for t, m in pairs for k in range(args.stochastic_seeds if m.info.stochastic else 1)]
    store, sink = _open_sinks(args.no_wandb)
    if not args.force:
        # Resume: a run with a stored ok result for this task version, agent, method version and seed is done.
        done = {_pair_key(r.task_id, r.agent_sha256, r.method, r.method_version, r.seed)
                for r in store.results(status="ok")}
        todo = [(t, m, s) for t, m, s in runs if _pair_key(t.spec.id, t.spec.agent.sha256, m.info.name,
                                                           m.info.version, s) not in done]
        if len(todo) < len(runs):
            print(f"mirl: {len(runs) - len(todo)} of {len(runs)} runs already stored; skipping them (--force reruns "
                  "them)", file=sys.stderr)
        runs = todo
    _execute(runs, store, sink, args.jobs)
    from mirl.cli.leaderboard import print_boards

    print_boards(store, [t.spec.id for t in chosen_tasks], args.format)
    return 0
