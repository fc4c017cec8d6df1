"""`mirl --help`, `mirl tasks`, `mirl methods` answer in under a second: lazy imports keep torch, wandb and
procgen out of listing. Measured against a bare interpreter start in the same run."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import pytest

LISTING_LIMIT_SECONDS = 1.0


def _wall(args: list[str]) -> float:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def interpreter_start() -> float:
    """Baseline: the median wall time of starting Python and importing nothing."""
    return statistics.median(_wall([sys.executable, "-c", "pass"]) for _ in range(5))


@pytest.mark.parametrize("command", [["--help"], ["tasks"], ["methods"]], ids=lambda c: c[0])
def test_listing_is_fast(benchmark, command, interpreter_start):
    args = [sys.executable, "-m", "mirl", *command]
    benchmark.pedantic(_wall, args=(args,), rounds=5, iterations=1, warmup_rounds=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info["ratio_to_interpreter_start"] = round(median / interpreter_start, 2)
    benchmark.extra_info["interpreter_start_seconds"] = round(interpreter_start, 4)
    assert median < LISTING_LIMIT_SECONDS, f"`mirl {command[0]}` took {median:.2f} s"
