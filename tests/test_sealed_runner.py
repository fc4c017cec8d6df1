"""The runner runs every method's solve() in a sealed worker (mirl.sealed, mirl.worker): the method gets the view
and nothing of the Task; its faults become failed results; results say how they were made.

Bounded faults only: the hang sleeps at most 60 s against a 2 s budget."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from mirl.method import Method
from mirl.pluginhost import get_methods, get_tasks
from mirl.runner import evaluate, sealing
from mirl.schemas import MethodInfo, Readout
from processes import alive, descendants, marked, workers_left

READOUT = "smoke/goal-readout-v1"
HOOK = "encoder.hook_out"


def ridge(view) -> Readout:
    data = view.train_data(hooks=[HOOK])
    x = data.activations[HOOK].reshape(len(data), -1).astype(float)
    y = np.eye(view.spec.output_dim)[data.labels[view.spec.target]]
    w = np.linalg.solve(x.T @ x + 1e-2 * np.eye(x.shape[1]), x.T @ y)
    return Readout(weights={HOOK: w}, bias=np.zeros(view.spec.output_dim))


class Ridge(Method):
    info = MethodInfo(name="ridge", version="0", answer_kinds=["readout"], description="ridge probe")

    def solve(self, view):
        return ridge(view)


class RidgeThenZeroesTheAgent(Method):
    info = MethodInfo(name="ridge-then-zero", version="0", answer_kinds=["readout"],
                      description="ridge probe, then zeroes every weight of its agent")

    def solve(self, view):
        answer = ridge(view)
        for p in view.agent.parameters():
            p.data.zero_()
        return answer


class BurnsCPUAndRunsItsAgent(Method):
    info = MethodInfo(name="burns-cpu", version="0", answer_kinds=["readout"],
                      description="spins 0.5 s of CPU, runs its own agent on 10 observations, then fits a ridge probe")

    def solve(self, view):
        import torch

        spun = time.process_time()
        while time.process_time() - spun < 0.5:
            pass
        with torch.no_grad():
            view.agent(torch.from_numpy(view.train_data(n=10, hooks=[HOOK]).obs))
        return ridge(view)


class Exits(Method):
    info = MethodInfo(name="exits", version="0", answer_kinds=["readout"], description="ends its process")

    def solve(self, view):
        os._exit(1)


class EatsMemory(Method):
    info = MethodInfo(name="eats-memory", version="0", answer_kinds=["readout"],
                      description="allocates 3 GB in all, 128 MB at a time")

    def solve(self, view):
        blocks = [np.ones(2**24) for _ in range(24)]  # a fixed total: a missing cap fails the test, not the machine
        return {"blocks": len(blocks)}


class Crashes(Method):
    info = MethodInfo(name="crashes", version="0", answer_kinds=["readout"], description="reads address 0")

    def solve(self, view):
        import ctypes

        ctypes.string_at(0)


DAEMON_MARKER = "mirl-test-daemon-of-a-sealed-method"


class LeavesADaemon(Method):
    info = MethodInfo(name="leaves-a-daemon", version="0", answer_kinds=["readout"],
                      description="answers, leaving a process in a session of its own")

    def solve(self, view):
        import subprocess
        import sys

        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", DAEMON_MARKER], start_new_session=True)
        return ridge(view)


class Hangs(Method):
    info = MethodInfo(name="hangs", version="0", answer_kinds=["readout"], description="never answers")

    def solve(self, view):
        time.sleep(60)


class LooksAround(Method):
    info = MethodInfo(name="looks-around", version="0", answer_kinds=["readout"],
                      description="reports what it can reach, as its failure")

    def solve(self, view):
        from mirl.task import TaskView

        # a TaskView is what carries the scoring process's Task (its test split, its oracle) into a run. (Task
        # objects a family module builds when imported may be here: without the salt they give no test split)
        views = sum(isinstance(o, TaskView) for o in gc.get_objects())
        raise RuntimeError(f"views={views} task={hasattr(view, '_task')} oracle={hasattr(view, 'oracle_answer')} "
                           f"salt={'MIRL_TEST_SALT' in os.environ} pid={os.getpid()}")


def test_a_sealed_run_scores_as_an_in_process_one_and_says_which_it_was():
    task = get_tasks().get(READOUT)
    sealed, in_process = evaluate(task, Ridge, seed=1), evaluate(task, Ridge, seed=1, sealed=False)
    assert sealed.status == in_process.status == "ok"
    assert sealed.metrics == in_process.metrics and sealed.instances == in_process.instances
    assert (sealed.sealed, in_process.sealed) == (sealing(), False)  # True, or "partial" where workers keep our user
    assert sealed.compute.forward_passes == in_process.compute.forward_passes > 0


def test_in_process_is_chosen_by_the_environment(monkeypatch):
    monkeypatch.setenv("MIRL_IN_PROCESS", "1")
    assert evaluate(get_tasks().get(READOUT), get_methods().get("random"), seed=0).sealed is False


def test_a_method_that_zeroes_its_agent_changes_nothing_the_scorer_measures():
    task = get_tasks().get(READOUT)
    honest = evaluate(task, Ridge, seed=0)
    for sealed in (True, False):
        vandal = evaluate(task, RidgeThenZeroesTheAgent, seed=0, sealed=sealed)
        assert vandal.status == "ok" and vandal.metrics == honest.metrics, (sealed, vandal.metrics)


def test_the_parent_measures_the_workers_cpu_time_and_marks_counts_the_worker_reported():
    task = get_tasks().get(READOUT)
    sealed = evaluate(task, BurnsCPUAndRunsItsAgent, seed=0)
    assert sealed.status == "ok" and sealed.compute.cpu_seconds >= 0.5
    assert sealed.compute.self_reported  # its own agent's 10 forwards: counted in its process, reported by it
    honest = evaluate(task, Ridge, seed=0).compute
    assert not honest.self_reported and 0 < honest.cpu_seconds < sealed.compute.cpu_seconds
    assert honest.forward_passes == 1000  # the train split, run by the scorer's service
    in_process = evaluate(task, BurnsCPUAndRunsItsAgent, seed=0, sealed=False).compute
    assert in_process.cpu_seconds is None and not in_process.self_reported
    assert in_process.forward_passes == sealed.compute.forward_passes


def test_a_method_that_ends_its_process_is_a_failed_result_and_the_next_run_goes_on():
    task = get_tasks().get(READOUT)
    result = evaluate(task, Exits, seed=0)
    assert result.status == "failed" and result.error == "the method's process exited with code 1 before answering"
    assert evaluate(task, Ridge, seed=0).status == "ok"


def with_budget(task, **budget):
    """A copy of ``task`` whose spec's budget has ``budget`` changed."""
    changed = type(task).__new__(type(task))
    changed.__dict__.update(task.__dict__)
    changed.spec = task.spec.model_copy(update={"budget": task.spec.budget.model_copy(update=budget)})
    return changed


def test_memory_over_the_tasks_cap_is_a_failed_result_and_the_next_run_goes_on():
    task = get_tasks().get(READOUT)
    assert task.spec.budget.memory_gib == 6  # the default
    result = evaluate(with_budget(task, memory_gib=2.0), EatsMemory, seed=0)
    assert result.status == "failed"
    assert result.error == "out of memory: over the 2 GiB cap on the method's process", result.error
    assert evaluate(task, Ridge, seed=0).status == "ok"


@pytest.mark.parametrize("method, status, reason", [
    (Crashes, "failed", "the method's process was killed by SIGSEGV (a crash in native code)"),
    (Exits, "failed", "the method's process exited with code 1 before answering"),
    (LeavesADaemon, "ok", None),
])
def test_a_fault_is_a_failed_result_and_leaves_no_process_of_the_worker(method, status, reason):
    from mirl.runner import template

    started = time.monotonic()
    result = evaluate(get_tasks().get(READOUT), method, seed=0)
    assert (result.status, result.error) == (status, reason)
    assert time.monotonic() - started < 30
    assert workers_left(template()) == []  # the worker, and whatever it started, are gone
    assert marked(DAEMON_MARKER) == []


def test_a_hang_fails_at_the_budget_and_leaves_no_thread():
    task = get_tasks().get(READOUT)
    quick = with_budget(task, wall_seconds=2.0)
    threads = threading.active_count()
    started = time.monotonic()
    result = evaluate(quick, Hangs, seed=0)
    assert result.status == "failed", result.error
    assert result.error == "budget exceeded: still running after 3 s (wall budget 2 s)"  # worded as in-process
    assert time.monotonic() - started < 10 and threading.active_count() == threads


def test_the_sealed_method_reaches_no_view_of_the_scorer_no_oracle_and_no_salt(monkeypatch):
    monkeypatch.setenv("MIRL_TEST_SALT", "not for methods")
    result = evaluate(get_tasks().get(READOUT), LooksAround, seed=0)
    assert result.status == "failed"
    assert "views=0 task=False oracle=False salt=False" in result.error and f"pid={os.getpid()}" not in result.error, result.error


@pytest.mark.parametrize("method", ["gradient-x-activation", "counterfactual-goal"])
def test_a_method_steps_train_environments_through_the_parent(method):
    """gradient-x-activation plays smoke's train envs; counterfactual-goal resets maze's, on every zoo agent."""
    from mirl.runner import solve

    task_id = {"gradient-x-activation": "smoke/goal-units-v1", "counterfactual-goal": "maze/misgen-predict-v1"}[method]
    task = get_tasks().get(task_id)
    sealed, in_process = solve(task, get_methods().get(method), 0), solve(task, get_methods().get(method), 0, False)
    assert sealed.error is None and in_process.error is None, (sealed.error, in_process.error)
    assert sealed.compute.env_steps == in_process.compute.env_steps
    from mirl.wire import encode_answer

    assert encode_answer(sealed.answer) == encode_answer(in_process.answer)


def test_an_in_process_result_is_marked_on_the_boards_and_the_reference_oracle_is_not():
    from mirl.leaderboards.render import render_table
    from mirl.leaderboards.stats import task_rows

    task = get_tasks().get(READOUT)
    results = [evaluate(task, get_methods().get(name), seed=0, sealed=False) for name in ("random", "oracle")]
    assert [r.sealed for r in results] == [False, False]  # the oracle runs in the scoring process by design
    assert [r.reference for r in results] == [False, True]  # marked by the runner, from the class
    table = render_table({READOUT: task_rows(results)}, {})
    assert "random (in-process)" in table and "oracle (in-process)" not in table
    assert [line.split()[:2] for line in table.splitlines()[3:5]] == [["1", "random"], ["ref", "oracle"]]


@pytest.mark.slow
def test_the_cli_runs_sealed_unless_told_in_process(run_cli, tmp_path):
    import json

    for flag, sealed in (([], sealing()), (["--in-process"], False)):
        proc = run_cli("run", READOUT, "--method", "random", "--json", *flag, home=tmp_path)
        assert proc.returncode == 0, proc.stderr
        (result,) = json.loads(proc.stdout)
        assert result["sealed"] == sealed and result["status"] == "ok"


@pytest.mark.slow
def test_a_bench_killed_mid_run_leaves_no_process_and_resumes_without_loss(tmp_path, cli_cwd):
    import json
    import signal
    import subprocess
    import sys

    from mirl.leaderboards.store import ResultStore

    home = tmp_path / "home"
    args = [sys.executable, "-m", "mirl", "bench", "--tasks", "smoke/goal-readout-v1", "--methods", "random",
            "linear-probe", "sparse-probe", "--stochastic-seeds", "2", "--no-wandb", "--format", "json"]
    env = {**os.environ, "MIRL_HOME": str(home), "WANDB_MODE": "disabled"}
    bench = subprocess.Popen(args, env=env, cwd=cli_cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)  # its own session: ours to kill
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (home.exists() and ResultStore(home).results()):
            time.sleep(0.2)
        helpers = descendants(bench.pid)  # the template (and, through it, a worker when one is running)
        assert helpers and ResultStore(home).results()
    finally:
        bench.send_signal(signal.SIGKILL)  # no atexit, no close(): only the kernel's PR_SET_PDEATHSIG is left
        bench.wait()
    deadline = time.monotonic() + 5
    while any(map(alive, helpers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in helpers if alive(pid)]
    stored = len(ResultStore(home).results())
    again = subprocess.run(args, env=env, cwd=cli_cwd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{stored} of 4 runs already stored" in again.stderr  # random: 2 seeds (stochastic); the probes: 1
    results = ResultStore(home).results()
    assert len(results) == 4 and len({(r.method, r.seed) for r in results}) == 4
    assert {row["method"] for row in json.loads(again.stdout)["smoke/goal-readout-v1"]["rows"]} == \
        {"random", "linear-probe", "sparse-probe"}


@pytest.mark.slow
def test_two_benches_on_one_home_at_once_lose_and_duplicate_nothing(tmp_path, cli_cwd):
    import json
    import subprocess
    import sys

    from mirl.leaderboards.store import ResultStore

    home = tmp_path / "home"
    methods = ("random", "linear-probe", "sparse-probe")
    args = [sys.executable, "-m", "mirl", "bench", "--tasks", READOUT, "--methods", *methods,
            "--stochastic-seeds", "1", "--no-wandb", "--format", "json"]
    env = {**os.environ, "MIRL_HOME": str(home), "WANDB_MODE": "disabled"}
    benches = [subprocess.Popen(args, env=env, cwd=cli_cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True) for _ in range(2)]
    outputs = [bench.communicate(timeout=300) for bench in benches]
    assert [bench.returncode for bench in benches] == [0, 0], [err for _, err in outputs]
    # each started on an empty store, so each ran every method: 3 runs, twice, all kept
    results = ResultStore(home).results()
    assert len({r.result_id for r in results}) == len(results) == 6
    assert sorted(r.method for r in results) == sorted(methods * 2)
    assert len(list((home / "results").rglob("*.json"))) == 6
    for method in methods:  # the same seed gives the same score, whichever bench ran it
        a, b = (r.metrics for r in results if r.method == method)
        assert a == b, method
    for out, _ in outputs:
        assert {row["method"] for row in json.loads(out)[READOUT]["rows"]} == set(methods)


def test_a_private_salt_with_workers_of_our_own_user_is_said_once_and_marked_partial(tmp_path, monkeypatch, capsys):
    salt = tmp_path / "salt"
    salt.write_text("an official secret\n")
    salt.chmod(0o600)
    monkeypatch.setenv("MIRL_TEST_SALT_FILE", str(salt))
    monkeypatch.setattr("mirl.errors._WARNED", set())  # as in a fresh process (a warning is said once per process)
    task = get_tasks().get(READOUT)
    results = [evaluate(task, get_methods().get("random"), seed=s) for s in (0, 1)]
    assert all(r.status == "ok" and r.provenance.test_salt == "private" for r in results)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "sealed workers run as" in line]
    if sealing() is True:  # mirl runs as root and the unprivileged user reads this Python: nothing to say
        assert [r.sealed for r in results] == [True, True] and warnings == []
    else:
        assert [r.sealed for r in results] == ["partial", "partial"]
        assert len(warnings) == 1 and "results are marked sealed: partial" in warnings[0], warnings


@pytest.mark.slow
def test_a_worker_runs_parallel_torch_ops_when_the_parent_uses_several_threads(tmp_path):
    """Workers are forked from a template: had the template started torch's thread pool (the test suite runs on
    one thread, a user's `mirl run` on all cores), a worker's first parallel op would hang until the budget."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["MIRL_HOME"] = str(tmp_path)
    code = ("import torch; torch.set_num_threads(2); from mirl.pluginhost import get_methods, get_tasks; "
            "from mirl.runner import evaluate; r = evaluate(get_tasks().get('smoke/goal-retarget-v1'), "
            "get_methods().get('channel-clamp'), seed=0); print(r.status, r.error)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=100)
    assert out.stdout.split()[:1] == ["ok"], out.stdout + out.stderr[-2000:]
