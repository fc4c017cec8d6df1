"""The `mirl` command line in real subprocesses: listings, `run --json`, errors, help and schemas."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SMOKE_TASK_IDS = ["smoke/goal-readout-v1", "smoke/goal-retarget-v1", "smoke/goal-units-v1", "smoke/next-action-v1"]
RESULT_FIELDS = {"task_id", "method", "status", "primary_metric", "score", "ci", "normalized_score", "seed",
                 "agent_sha256"}


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mirl: error: ")
    return lines[0]


# --- listings ---------------------------------------------------------------------------------------------


def test_tasks_json(home, run_cli):
    proc = run_cli("tasks", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    tasks = {t["id"]: t for t in json.loads(proc.stdout)}
    assert set(SMOKE_TASK_IDS) <= set(tasks)
    for task_id in SMOKE_TASK_IDS:
        task = tasks[task_id]
        assert task["family"] == "smoke" and task["version"] == 1 and task["plugin"] == "smoke"
        assert len(task["agent_sha256"]) == 64
    assert tasks["smoke/goal-readout-v1"]["answer_kind"] == "readout"
    assert tasks["smoke/goal-readout-v1"]["primary_metric"] == "accuracy"
    assert tasks["smoke/goal-readout-v1"]["superseded_by"] is None
    # a task registered at two versions: the older one names the newer (in the table too)
    assert tasks["sokoban/plan-steer-v1"]["superseded_by"] == "sokoban/plan-steer-v2"
    assert tasks["sokoban/plan-steer-v2"]["superseded_by"] is None
    assert not home.exists()  # listing never creates the store


def test_tasks_table(home, run_cli):
    proc = run_cli("tasks", home=home)
    assert proc.returncode == 0, proc.stderr
    for task_id in SMOKE_TASK_IDS:
        assert task_id in proc.stdout


def test_methods_json(home, run_cli):
    proc = run_cli("methods", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    methods = {m["name"]: m for m in json.loads(proc.stdout)}
    assert {"random", "oracle"} <= set(methods)
    for name in ("random", "oracle"):
        assert methods[name]["plugin"] == "baselines"
    state_kinds = {"readout", "unit_scores", "intervention", "prediction"}
    assert set(methods["oracle"]["answer_kinds"]) == state_kinds
    assert set(methods["random"]["answer_kinds"]) == state_kinds | {"agent_predictions"}
    assert methods["oracle"]["families"] == ["smoke"]
    probe = methods["linear-probe"]  # a method card: where it comes from, its settings, what it spends
    assert "Alain & Bengio 2016" in probe["references"][0]
    assert probe["hyperparameters"]["l2_grid"] == [0.001, 0.01, 0.1] and "logistic fits" in probe["compute"]
    assert methods["random"]["stochastic"] is True
    proc = run_cli("methods", home=home)
    assert proc.returncode == 0 and "random" in proc.stdout and "oracle" in proc.stdout


def test_plugins_json(home, run_cli):
    proc = run_cli("plugins", home=home)
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in json.loads(proc.stdout)}
    assert {"smoke", "baselines"} <= set(plugins)
    assert plugins["smoke"]["hooks"] == ["register_agents", "register_tasks"]
    assert plugins["smoke"]["module"] == "mirl.tasks.smoke"
    assert plugins["baselines"]["hooks"] == ["register_methods"]
    assert plugins["baselines"]["module"] == "mirl.plugins.baselines"
    for name in ("smoke", "baselines"):
        assert plugins[name]["error"] is None
        assert plugins[name]["distribution"] == "mirl" and plugins[name]["version"]


# --- run --------------------------------------------------------------------------------------------------


def test_run_json_prints_only_the_results(home, run_cli, cli_cwd):
    proc = run_cli("run", "smoke/goal-readout-v1", "smoke/goal-units-v1", "--method", "random", "oracle",
                   "--seed", "3", "--json", "--no-wandb", home=home)

    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)  # the whole of stdout is the JSON list
    assert isinstance(results, list) and len(results) == 4
    assert [(r["task_id"], r["method"]) for r in results] == [
        ("smoke/goal-readout-v1", "random"), ("smoke/goal-readout-v1", "oracle"),
        ("smoke/goal-units-v1", "random"), ("smoke/goal-units-v1", "oracle"),
    ]
    tasks = {t["id"]: t for t in json.loads(run_cli("tasks", "--json", home=home).stdout)}
    for r in results:
        assert RESULT_FIELDS <= set(r)
        assert r["status"] == "ok" and r["seed"] == 3
        assert isinstance(r["ci"], list) and len(r["ci"]) == 2 and r["ci"][0] <= r["score"] <= r["ci"][1]
        assert r["agent_sha256"] == tasks[r["task_id"]]["agent_sha256"]
        assert r["primary_metric"] == tasks[r["task_id"]]["primary_metric"]
        if r["method"] == "oracle":
            assert r["normalized_score"] == pytest.approx(1.0)
    # progress went to stderr, one line per pair
    assert sum(line.startswith("[") for line in proc.stderr.splitlines()) == 4

    # and the same four results are in the store
    from mirl.leaderboards.store import ResultStore

    stored = {r.result_id: r.model_dump(mode="json") for r in ResultStore(home).results()}
    assert stored == {r["result_id"]: r for r in results}
    assert list(cli_cwd.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "wrong", "suggestion"),
    [
        (["smoke/goal-readuot-v1", "--method", "random"], "'smoke/goal-readuot-v1'", "'smoke/goal-readout-v1'"),
        (["smoke/goal-readout-v1", "--method", "orcale"], "'orcale'", "'oracle'"),
    ],
    ids=["task", "method"],
)
def test_unknown_id_is_one_line_with_a_suggestion(home, run_cli, args, wrong, suggestion):
    proc = run_cli("run", *args, "--no-wandb", home=home)

    line = one_line_error(proc)
    assert wrong in line
    assert "did you mean" in line
    assert suggestion in line.split("did you mean", 1)[1]
    assert proc.stdout == ""
    assert not home.exists()  # rejected before the store is opened or any compute is spent


def test_bench_with_unknown_tasks_or_methods(home, run_cli):
    proc = run_cli("bench", "--tasks", "nosuch/*", "--no-wandb", home=home)
    assert "no task matches" in one_line_error(proc)
    proc = run_cli("bench", "--methods", "orcale", "--no-wandb", home=home)
    assert "did you mean 'oracle'" in one_line_error(proc)


@pytest.mark.slow
def test_bench_resumes_where_it_stopped_and_force_reruns(home, cli):
    args = ("bench", "--tasks", "smoke/goal-readout-v1", "--methods", "random", "oracle", "--no-wandb",
            "--format", "json")
    first = cli(*args, home=home)
    assert first.returncode == 0, first.stderr
    progress = [line for line in first.stderr.splitlines() if line.startswith("[")]
    # random is stochastic: seeds 0, 1, 2 (--stochastic-seeds 3 by default); the oracle runs once
    assert len(progress) == 4 and "eta" in progress[-1] and "4/4" in progress[-1]
    assert sum("random (seed " in line for line in progress) == 3
    again = cli(*args, home=home)
    assert "4 of 4 runs already stored" in again.stderr
    assert not [line for line in again.stderr.splitlines() if line.startswith("[")]
    forced = cli(*args, "--force", "--stochastic-seeds", "1", home=home)
    assert sum(line.startswith("[") for line in forced.stderr.splitlines()) == 2

    from mirl.leaderboards.store import ResultStore

    assert len(ResultStore(home).results()) == 6
    rows = {r["method"]: r for r in json.loads(again.stdout)["smoke/goal-readout-v1"]["rows"]}
    assert rows["random"]["seeds"] == 3 and rows["random"]["seed_sd"] is not None and rows["oracle"]["seeds"] == 1


@pytest.mark.slow
def test_bench_jobs_run_in_parallel_processes_with_the_same_scores(tmp_path, run_cli):
    args = ("bench", "--tasks", "smoke/goal-*", "--methods", "random", "linear-probe", "--no-wandb",
            "--stochastic-seeds", "2", "--format", "json")
    serial = run_cli(*args, home=tmp_path / "serial")
    parallel = run_cli(*args, "--jobs", "2", home=tmp_path / "parallel")
    assert serial.returncode == 0 and parallel.returncode == 0, parallel.stderr
    assert sum(line.startswith("[") for line in parallel.stderr.splitlines()) == 7  # 3 tasks × 2 seeds + 1 probe

    from mirl.leaderboards.store import ResultStore

    def scores(home):
        return sorted((r.task_id, r.method, r.seed, r.score) for r in ResultStore(home).results())

    assert scores(tmp_path / "serial") == scores(tmp_path / "parallel") and len(scores(tmp_path / "serial")) == 7
    assert "--jobs must be at least 1" in one_line_error(run_cli(*args, "--jobs", "0", home=tmp_path / "bad"))


@pytest.mark.slow
def test_verify_reruns_a_stored_result_and_reports_reproduction(home, cli):
    proc = cli("run", "smoke/goal-readout-v1", "--method", "random", "--seed", "2", "--json", "--no-wandb",
                   home=home)
    stored = json.loads(proc.stdout)[0]
    check = cli("verify", stored["result_id"][:10], home=home)
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout)
    assert report["reproduced"] and report["rerun_score"] == pytest.approx(stored["score"])
    assert "reproduced" in check.stderr
    assert "no stored result 'abcdef12'" in one_line_error(cli("verify", "abcdef12", home=home))
    assert "must be hexadecimal" in one_line_error(cli("verify", "xyz", home=home))


def test_compare_pairs_two_methods_on_the_same_instances(home, cli):
    proc = cli("run", "smoke/goal-readout-v1", "--method", "random", "oracle", "--no-wandb", home=home)
    assert proc.returncode == 0, proc.stderr
    check = cli("compare", "smoke/goal-readout-v1", "oracle", "random", home=home)
    assert check.returncode == 0, check.stderr
    out = json.loads(check.stdout)
    assert out["n"] == 500 and out["ci_low"] > 0.8 and "a beats b" in check.stderr
    assert "no stored ok result of ['linear-probe']" in one_line_error(
        cli("compare", "smoke/goal-readout-v1", "oracle", "linear-probe", home=home))


# --- help and schemas -------------------------------------------------------------------------------------


def test_help(home, run_cli):
    proc = run_cli("--help", home=home)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: mirl")
    for verb in ("tasks", "methods", "plugins", "run", "bench", "verify", "compare", "leaderboard", "schema"):
        assert verb in proc.stdout
    bare = run_cli(home=home)
    assert bare.returncode == 0 and bare.stdout == proc.stdout
    sub = run_cli("run", "--help", home=home)
    assert sub.returncode == 0 and "--method" in sub.stdout and "--no-wandb" in sub.stdout


def test_bad_arguments_are_a_usage_error(home, run_cli):
    proc = run_cli("run", "smoke/goal-readout-v1", home=home)  # --method is required
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "--method" in proc.stderr


@pytest.mark.parametrize("seed", ["-1", str(10**30), "1.5", "zero"])
@pytest.mark.parametrize("command", [("run", "smoke/goal-readout-v1", "--method", "random"), ("bench",),
                                     ("compare", "smoke/goal-readout-v1", "random", "oracle")], ids=lambda c: c[0])
def test_a_seed_out_of_range_is_a_usage_error_naming_the_range(home, run_cli, command, seed):
    proc = run_cli(*command, "--seed", seed, home=home)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].endswith("use 0 <= seed < 2**32"), proc.stderr


def test_stochastic_seeds_may_not_run_past_the_last_seed(home, run_cli):
    proc = run_cli("bench", "--seed", str(2**32 - 2), "--stochastic-seeds", "3", home=home)
    assert "runs past seed 2**32 − 1" in one_line_error(proc)


def test_schema_result(home, run_cli):
    proc = run_cli("schema", "result", home=home)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert {"agent_sha256", "ci", "provenance", "score", "normalized_score", "status"} <= set(schema["properties"])
    assert "result_id" in schema["required"]
    default = run_cli("schema", home=home)
    assert json.loads(default.stdout) == schema


def test_schema_answer(home, run_cli):
    proc = run_cli("schema", "answer", home=home)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert {"Readout", "UnitScores", "Intervention", "Prediction"} <= set(schema["$defs"])
    assert schema["discriminator"]["propertyName"] == "kind"
    for which in ("task", "method"):
        other = run_cli("schema", which, home=home)
        assert other.returncode == 0 and "properties" in json.loads(other.stdout)


def test_closed_stdout_is_not_a_traceback(tmp_path):
    """`mirl schema answer | head -1`: the reader goes away; mirl stops quietly."""
    env = {**os.environ, "MIRL_HOME": str(tmp_path / "home"), "WANDB_MODE": "disabled"}
    proc = subprocess.Popen([sys.executable, "-m", "mirl", "schema", "answer"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    proc.stdout.close()  # closed before mirl writes anything
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()


# --- import weight ----------------------------------------------------------------------------------------


def test_listing_does_not_import_heavy_packages(tmp_path):
    code = (
        "import sys, contextlib, io\n"
        "from mirl.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['tasks']) == 0\n"
        "    assert main(['methods']) == 0\n"
        "    assert main(['plugins']) == 0\n"
        "    assert main(['tasks', '--json']) == 0\n"
        "heavy = {'torch', 'wandb', 'procgen', 'gym', 'gymnasium', 'minigrid'} & set(sys.modules)\n"
        "assert not heavy, sorted(heavy)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "MIRL_HOME": str(tmp_path / "home"), "WANDB_MODE": "disabled"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
