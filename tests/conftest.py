"""Test-wide settings: only the built-in plugins load, W&B stays off unless a test turns it on, and
nothing is written outside pytest's temporary folders."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

# Set before any plugin loads: the suite never loads whatever else happens to be installed.
os.environ["MIRL_LOAD_PLUGINS"] = "smoke,coinrun,maze,sokoban,doorkey,icrl,baselines,probes,attribution,steering,causal"
os.environ.pop("MIRL_DISABLE_PLUGINS", None)
os.environ.pop("MIRL_TEST_SALT", None)
os.environ["WANDB_MODE"] = "disabled"
os.environ["MIRL_HOME"] = tempfile.mkdtemp(prefix="mirl-test-home-")
# One torch thread per test process (and its subprocesses): the suite runs as two pytest workers on two cores,
# and beside other work a second torch thread only waits for a busy core (measured: a CoinRun probe test took
# 71 s on one thread against 105 s on two while the other core was busy). Results do not depend on it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

pytest_plugins = ["mirl.testing"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh, empty MIRL_HOME for one test."""
    path = tmp_path / "mirl-home"
    monkeypatch.setenv("MIRL_HOME", str(path))
    return path


# --- parallel runs (pytest -n 2 --dist loadgroup) ----------------------------------------------------

# The costliest groups, costliest first (idle seconds on 2 workers, 2026-12-07): handed out first, they leave
# the many short files to even out the two workers' finishing times (longest first). xdist's own order (most
# tests first) once left the Sokoban group, 5 tests and ~330 s, to start last on one worker.
COSTLIEST_GROUPS = ["scored-coinrun", "test_sokoban_drc.py", "scored-maze", "scored-doorkey", "test_cli.py",
                    "test_smoke_tasks.py"]


def xdist_group(item) -> str:
    return item.get_closest_marker("xdist_group").args[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under xdist's loadgroup, a test without an ``xdist_group`` mark is grouped with its file, so that a file's
    module fixtures (trained toy agents, rollouts) are built once, as with loadfile; a few families' tests share
    a group (scored-<family>) so that they can share evaluations (``scored``). The costliest groups go first."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.path.name))
    rank = {group: i for i, group in enumerate(COSTLIEST_GROUPS)}
    items.sort(key=lambda item: rank.get(xdist_group(item), len(rank)))  # stable: a group keeps its order


def pytest_configure(config):
    """xdist groups tests by a ``@group`` suffix it writes into each node id; pytest 9.2 computes node ids another
    way and drops it (xdist 3.8), and every test then runs wherever, each worker rebuilding the shared fixtures
    and evaluations: as green, minutes slower. Refuse instead of running slowly. Groups are handed out in
    collection order (above), not xdist's most-tests-first."""
    if config.getoption("dist", None) == "loadgroup" and pytest.version_tuple[:2] >= (9, 2):
        raise pytest.UsageError(f"pytest {pytest.__version__} loses xdist's test groups (--dist loadgroup); "
                                "install the pytest that the test extra pins: pip install -e '.[test]'")
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


# --- evaluations shared across tests ----------------------------------------------------------------


class ScoredOnce:
    """``scored(task_id, method, seed=0)``: that evaluation's Result, run once per test session. An evaluation is
    deterministic for its seed, so tests that assert on the same one can share it (a full scoring of a CoinRun,
    maze or Sokoban task takes 10 s to 2 min). ``seconds[(task_id, method, seed)]`` is how long it took."""

    def __init__(self) -> None:
        self.results: dict = {}
        self.seconds: dict[tuple, float] = {}

    def __call__(self, task_id: str, method: str, seed: int = 0, **sizes: int):
        """``sizes`` (train_size=, test_size=): score a ``mirl.testing.resized`` copy of the task."""
        import time

        from mirl.pluginhost import get_methods, get_tasks
        from mirl.runner import evaluate
        from mirl.testing import resized

        key = (task_id, method, seed, *sorted(sizes.items()))
        if key not in self.results:
            task = get_tasks().get(task_id)
            started = time.perf_counter()
            self.results[key] = evaluate(resized(task, **sizes) if sizes else task, get_methods().get(method), seed=seed)
            self.seconds[key] = time.perf_counter() - started
        return self.results[key]

    def remember(self, results) -> None:
        """Keep evaluations a test ran itself (e.g. the contract test's first pass) for later tests to share."""
        for result in results:
            self.results.setdefault((result.task_id, result.method, result.seed), result)


@pytest.fixture(scope="session")
def scored() -> ScoredOnce:
    return ScoredOnce()


# --- shared helpers for the store, leaderboard and CLI tests -----------------------------------------



def build_result(**overrides):
    """A cheap, valid ``Result`` built by hand (a fresh uuid ``result_id`` unless one is given)."""
    from mirl.schemas import Compute, Provenance, Result

    fields = dict(
        result_id=uuid.uuid4().hex,
        task_id="smoke/goal-readout-v1",
        task_version=1,
        task_family="smoke",
        agent_id="smoke-ppo",
        agent_sha256="ab" * 32,
        method="linear_probe",
        method_version="1.0",
        seed=0,
        status="ok",
        primary_metric="accuracy",
        higher_is_better=True,
        score=0.875,
        ci=(0.8, 0.93),
        normalized_score=0.75,
        n=256,
        metrics={"accuracy": 0.875, "floor": 0.5, "ceiling": 1.0},
        compute=Compute(env_steps=1000, forward_passes=2048, wall_seconds=1.5, scoring_seconds=0.25),
        provenance=Provenance(
            mirl_version="0.1.0", git_commit="deadbeef", python="3.11.9", platform="Linux-x86_64",
            packages={"numpy": "1.26.4"}, test_salt="public",
        ),
        created_at="2026-01-02T03:04:05+00:00",
    )
    if overrides.get("status") == "failed":
        fields.update(score=None, ci=None, normalized_score=None, n=0, metrics={}, error="method raised ValueError")
    fields.update(overrides)
    return Result(**fields)


@pytest.fixture
def make_result():
    """``make_result(**overrides)``: a hand-built Result (see ``build_result``)."""
    return build_result


@pytest.fixture
def cli_cwd(tmp_path):
    """An empty working directory for CLI subprocesses (so a test can check nothing was written to it)."""
    path = tmp_path / "cwd"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def run_cli(cli_cwd):
    """``run_cli(*args, home=PATH, env=None, timeout=120)``: run ``python -m mirl ARGS`` in a subprocess with
    MIRL_HOME=home and W&B disabled, from an empty working directory; returns the CompletedProcess (text)."""

    def run(*args: str, home: Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        full_env = {**os.environ, "MIRL_HOME": str(home), "WANDB_MODE": "disabled", **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "mirl", *args], env=full_env, cwd=cli_cwd, capture_output=True, text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def cli(cli_cwd):
    """``cli(*args, home=PATH, env=None)``: ``mirl ARGS`` run in this process (``mirl.cli.main.main``), with the
    environment, working directory and CompletedProcess that ``run_cli`` gives. For tests of what a command does: it
    shares this process's imports and sealed template instead of starting Python, torch and a template of its
    own (~5 s of CPU per command). What only a process shows — ``python -m mirl`` itself, stdout holding nothing
    but JSON, ``--jobs``, a kill, W&B's service, import errors — stays with ``run_cli``."""
    import contextlib
    import io

    def run(*args: str, home: Path, env: dict | None = None) -> subprocess.CompletedProcess:
        from mirl.cli.main import main

        saved, cwd = dict(os.environ), os.getcwd()
        out, err = io.StringIO(), io.StringIO()
        try:
            os.environ.update({"MIRL_HOME": str(home), "WANDB_MODE": "disabled", **(env or {})})
            os.chdir(cli_cwd)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as exc:  # argparse's usage errors
                    code = exc.code if isinstance(exc.code, int) else 1
        finally:
            os.chdir(cwd)
            os.environ.clear()  # a command may set variables (--in-process sets MIRL_IN_PROCESS): none outlives it
            os.environ.update(saved)
        return subprocess.CompletedProcess(["mirl", *args], code, out.getvalue(), err.getvalue())

    return run
