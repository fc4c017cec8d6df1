"""The W&B sink against the real wandb client in offline mode (no mocks of wandb), and its failure path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mirl.leaderboards.wandb_sink import WandbSink, read_offline_run, resolve_mode
from mirl.schemas import Provenance

SHA = "ab" * 32


# Distinctive values, so the test can tell them apart in what W&B recorded.
OVERRIDES = dict(
    result_id="0123456789abcdef0123456789abcdef",
    agent_sha256=SHA,
    seed=3,
    metrics={"accuracy": 0.875, "balanced_accuracy": 0.8125, "log_loss": 0.3141592653589793},
    provenance=Provenance(
        mirl_version="0.1.0", git_commit="deadbeef", python="3.11.9", platform="Linux-x86_64",
        packages={"torch": "2.13.0", "numpy": "1.26.4"}, test_salt="public",
    ),
)


@pytest.fixture
def result(make_result):
    return make_result(**OVERRIDES)


ROWS = [
    {"rank": 1, "method": "linear_probe", "score": 0.875, "normalized_score": 0.75, "status": "ok"},
    {"rank": 2, "method": "random", "score": None, "normalized_score": None, "status": "failed"},
]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Offline W&B with a clean environment; the test runs from an empty working directory."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_DIR", raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_offline_run_records_result_and_leaderboard(offline, tmp_path, capfd, result):
    run_dir = WandbSink(tmp_path / "wandb").log_result(result, ROWS)

    assert run_dir is not None
    run_dir = Path(run_dir)
    assert run_dir.is_relative_to(tmp_path / "wandb")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # `mirl run --json` owns stdout (checked at the fd level: wandb-core too)
    assert list(offline.iterdir()) == []  # nothing written to the working directory

    run = read_offline_run(run_dir)
    assert run["complete"]
    assert run["run"]["name"] == "smoke/goal-readout-v1|linear_probe|seed3"
    assert run["run"]["group"] == "smoke/goal-readout-v1"
    assert run["run"]["job_type"] == "eval"
    assert set(run["run"]["tags"]) == {"smoke", "ok"}

    config = run["config"]
    assert config["task_id"] == "smoke/goal-readout-v1"
    assert config["method"] == "linear_probe"
    assert config["agent_sha256"] == SHA
    assert config["seed"] == 3
    assert config["provenance.mirl_version"] == "0.1.0"
    assert config["provenance.packages.torch"] == "2.13.0"
    assert config["compute.env_steps"] == 1000

    summary = run["summary"]
    assert summary["accuracy"] == 0.875
    assert summary["balanced_accuracy"] == 0.8125
    assert summary["log_loss"] == 0.3141592653589793  # full float precision survives
    assert summary["score"] == 0.875
    assert summary["normalized_score"] == 0.75
    assert (summary["ci_low"], summary["ci_high"]) == (0.8, 0.93)
    assert summary["n"] == 256
    assert summary["primary_metric"] == "accuracy"
    assert summary["status"] == "ok"
    assert "error" not in summary

    # A logged Table is recorded as a reference to a JSON file saved with the run.
    table_ref = summary["leaderboard"]
    assert table_ref["_type"] == "table-file"
    assert (table_ref["nrows"], table_ref["ncols"]) == (2, 5)
    assert table_ref["path"] in run["files"]
    table = json.loads((run_dir / "files" / table_ref["path"]).read_text())
    assert table["columns"] == ["rank", "method", "score", "normalized_score", "status"]
    assert table["data"] == [[1, "linear_probe", 0.875, 0.75, "ok"], [2, "random", None, None, "failed"]]


def test_failed_result_records_error(offline, tmp_path, make_result):
    result = make_result(**{**OVERRIDES, "metrics": {}}, status="failed", error="budget exceeded: env_steps")
    run_dir = WandbSink(tmp_path / "wandb").log_result(result, [])

    run = read_offline_run(Path(run_dir))
    assert run["summary"]["status"] == "failed"
    assert run["summary"]["error"] == "budget exceeded: env_steps"
    assert "score" not in run["summary"] and "leaderboard" not in run["summary"]
    assert set(run["run"]["tags"]) == {"smoke", "failed"}


def test_wandb_not_installed_is_one_line_on_stderr(offline, tmp_path, monkeypatch, capsys, result):
    monkeypatch.setitem(sys.modules, "wandb", None)  # makes `import wandb` raise, as if not installed

    sink = WandbSink(tmp_path / "wandb")
    assert sink.log_result(result, ROWS) is None

    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("mirl: W&B logging failed (ModuleNotFoundError: ")  # as for a missing wandb
    assert "safe in the local store" in err and "off for the rest of this command" in err
    # one failure switches the sink off: later results are not tried again, and not announced again
    assert sink.log_result(result, ROWS) is None
    assert capsys.readouterr() == ("", "")


def test_unusable_directory_fails_softly(offline, tmp_path, capsys, result):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    # wandb itself would quietly fall back to the system temp dir; the sink reports the problem instead.
    assert WandbSink(blocker / "wandb").log_result(result, ROWS) is None

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("mirl: W&B logging failed (")


def test_wandb_dir_overrides_directory(offline, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "elsewhere"))
    sink = WandbSink(tmp_path / "wandb")
    assert sink.directory == tmp_path / "elsewhere"


def test_disabled_mode_logs_nothing(monkeypatch, tmp_path, capsys, result):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert WandbSink(tmp_path / "wandb").log_result(result, ROWS) is None
    assert capsys.readouterr().err == ""
    assert not (tmp_path / "wandb").exists()


def test_import_does_not_import_wandb():
    code = "import sys, mirl.leaderboards.wandb_sink; assert 'wandb' not in sys.modules, 'wandb imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_resolve_mode(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode() == "disabled"

    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    assert resolve_mode() == "offline"

    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    assert resolve_mode() == "online"

    (tmp_path / ".netrc").unlink()
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert resolve_mode() == "online"


def test_leaderboard_push_records_each_task_table_and_the_results_artifact(offline, tmp_path, home, make_result,
                                                                           run_cli):
    from mirl.leaderboards.store import ResultStore

    store = ResultStore(home)
    for task in ("smoke/goal-readout-v1", "smoke/goal-units-v1"):
        for method in ("random", "linear-probe"):
            store.add(make_result(task_id=task, method=method))
    proc = run_cli("leaderboard", "--wandb", home=home, env={"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path / "w")})
    assert proc.returncode == 0, proc.stderr
    assert "pushed 2 leaderboard(s) and 4 result(s) to W&B" in proc.stderr
    (run_dir,) = (tmp_path / "w" / "wandb").glob("offline-run-*")
    recorded = read_offline_run(run_dir)
    assert recorded["complete"] and recorded["run"]["job_type"] == "leaderboard"
    (step,) = recorded["history"]
    for task in ("smoke/goal-readout-v1", "smoke/goal-units-v1"):
        table = step[f"leaderboard/{task}"]
        assert table["_type"] == "table-file" and table["nrows"] == 2
        data = json.loads((run_dir / "files" / table["path"]).read_text())
        method_column = data["columns"].index("method")
        assert sorted(row[method_column] for row in data["data"]) == ["linear-probe", "random"]
    after_tables = recorded["record_types"][recorded["record_types"].index("history"):]
    assert "artifact" in after_tables  # the results artifact is logged after the tables
    assert recorded["summary"]["tasks"] == 2 and recorded["summary"]["rows"] == 4


@pytest.fixture
def silent_server():
    """A W&B host on 127.0.0.1 that accepts connections and never answers (the worst kind of outage)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # the socket was closed: the test is over
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()
        for conn in held:
            conn.close()


@pytest.mark.slow
def test_a_silent_wandb_host_costs_one_timeout_per_command_not_one_per_run(silent_server, home, run_cli):
    """8 runs against a host that never answers: one failed W&B attempt (one line), W&B off for the rest of the
    command, all 8 results stored. One attempt costs ~15 s here (W&B's service start and teardown around a 2 s
    init timeout), so an attempt per run would add ≥ 8 × that; the bound allows one attempt and a loaded machine."""
    import time

    bench = ("bench", "--tasks", "smoke/*", "--methods", "random", "--stochastic-seeds", "2", "--format", "json")
    started = time.perf_counter()
    proc = run_cli(*bench, home=home / "disabled")
    disabled = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    online = {"WANDB_MODE": "online", "WANDB_BASE_URL": silent_server, "WANDB_API_KEY": "a" * 40,
              "WANDB_INIT_TIMEOUT": "2", "WANDB_DIR": str(home / "wandb")}
    started = time.perf_counter()
    proc = run_cli(*bench, home=home / "online", env=online, timeout=300)
    outage = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    failures = [line for line in proc.stderr.splitlines() if "W&B logging failed" in line]
    assert len(failures) == 1 and "off for the rest of this command" in failures[0], proc.stderr
    stored = sorted((home / "online" / "results").rglob("*.json"))
    assert len(stored) == 8
    assert outage - disabled < 60, (outage, disabled)
