"""The example family (examples/mirl-example-family), installed as a user would install a third-party family:
found through its entry point, benched with built-in methods, on the leaderboard, and its own tests pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAMILY = REPO / "examples" / "mirl-example-family"


@pytest.mark.slow
def test_example_family_installs_benches_and_keeps_the_contract(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(FAMILY)], check=True, capture_output=True)
    assert (target / "mirl_example_family" / "lake-ppo.pt").exists()  # the agent ships as package data
    env = {**os.environ, "PYTHONPATH": str(target), "MIRL_HOME": str(tmp_path / "home"), "WANDB_MODE": "disabled",
           "MIRL_LOAD_PLUGINS": "example,baselines,probes"}

    def mirl(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "mirl", *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    listed = [task["id"] for task in json.loads(mirl("tasks", "--json"))]
    assert listed == ["example/distance-readout-v1", "example/success-predict-v1"]
    mirl("bench", "--tasks", "example/*", "--methods", "linear-probe", "random", "--stochastic-seeds", "1")
    board = mirl("leaderboard", "--task", "example/distance-readout-v1")
    assert "linear-probe" in board and "random" in board

    # and the family's own tests pass against this mirl
    own = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(FAMILY / "tests"),
                          "--rootdir", str(tmp_path)], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert own.returncode == 0, own.stdout[-3000:] + own.stderr[-2000:]
