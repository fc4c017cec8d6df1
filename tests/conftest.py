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
os.environ["MIRL_LOAD_PLUGINS"] = "smoke,coinrun,maze,sokoban,doorkey,baselines,probes,behavioural,attribution,steering,causal"
os.environ.pop("MIRL_DISABLE_PLUGINS", None)
os.environ.pop("MIRL_TEST_SALT", None)
os.environ["WANDB_MODE"] = "disabled"
os.environ["MIRL_HOME"] = tempfile.mkdtemp(prefix="mirl-test-home-")

pytest_plugins = ["mirl.testing"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh, empty MIRL_HOME for one test."""
    path = tmp_path / "mirl-home"
    monkeypatch.setenv("MIRL_HOME", str(path))
    return path


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
