"""The harness's own overhead around one smoke evaluation, as a ratio to the method's own compute.

Harness = plugin loading, the view (agent load + sha256 check), answer validation, scoring bookkeeping,
the SQLite store and an offline W&B run. The method is the example plugin's nearest-class-mean decoder.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from mirl.leaderboards.store import ResultStore
from mirl.leaderboards.wandb_sink import WandbSink
from mirl.pluginhost import PluginHost
from mirl.runner import evaluate, record

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "mirl-example-method"))
from mirl_example_method.method import ClassMeans  # noqa: E402

# timed in rounds by pytest-benchmark, which times nothing under xdist: CI runs these apart (-m timed)
pytestmark = pytest.mark.timed

TASK = "smoke/goal-readout-v1"
# Generous ceiling: catches an order-of-magnitude regression (e.g. an eager import or a slow store).
MAX_OVERHEAD_RATIO = 30.0


def test_harness_overhead_ratio(benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    store = ResultStore(tmp_path / "home")
    sink = WandbSink(tmp_path / "home")

    def method_only() -> float:
        task = PluginHost()
        task.load_entry_points()
        view = task.tasks.get(TASK).view(0)
        started = time.perf_counter()
        ClassMeans().solve(view)
        return time.perf_counter() - started

    def whole_run() -> None:
        host = PluginHost()  # fresh plugin loading every round
        host.load_entry_points()
        result = evaluate(host.tasks.get(TASK), ClassMeans, seed=0)
        assert result.status == "ok"
        record(result, store, sink)

    whole_run()  # warm-up: W&B's first init in a process pays for its imports and service start
    method_seconds = min(method_only() for _ in range(5))
    benchmark.pedantic(whole_run, rounds=5, iterations=1)
    total = benchmark.stats.stats.median
    ratio = (total - method_seconds) / method_seconds
    benchmark.extra_info.update(
        method_seconds=round(method_seconds, 4), total_seconds=round(total, 4), overhead_ratio=round(ratio, 2)
    )
    print(f"\nmethod {method_seconds * 1000:.1f} ms, whole run {total * 1000:.1f} ms, overhead ratio {ratio:.1f}")
    assert ratio < MAX_OVERHEAD_RATIO
