"""What skipping per-step labels saves an outcome scorer (coinrun/saw-locate, coin-steer).

``run_episodes(..., record_labels=False)`` never calls ``env.labels()``, which on CoinRun reads every env's
serialized state at every step (~0.08 ms each, 64 envs): as much time as the agent's forward pass. Both plays
run the shipped agent over the same 64 held-out stock levels (one batch of 64 envs) with the same seed,
interleaved round by round; the outcomes (and the saws per level, which now come in the step info) must be
identical, and the outcome-only play faster. Measured when added: 1.7× (one saw-locate play of 1,000 levels:
21.8 s → 12.5 s on one thread).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

# timed in rounds by pytest-benchmark, which times nothing under xdist: CI runs these apart (-m timed)
pytestmark = pytest.mark.timed

EPISODES = 64
ROUNDS = 2  # ~5 s per play; every round measured put labelled play 1.5–2.5× slower, so the best of two will do
TARGET = 1.5  # labelled play's time over outcome-only play's
LIMIT = 1.2  # asserted: looser, for a noisy shared machine


@pytest.mark.slow
def test_outcome_only_play_matches_labelled_play_and_is_faster(benchmark):
    import torch

    from mirl.interventions import run_episodes
    from mirl.pluginhost import get_tasks
    from mirl.tasks.coinrun.tasks import stock_env

    torch.set_num_threads(1)
    task = get_tasks().get("coinrun/saw-locate-v1")
    agent = task.load_agent()
    seconds: dict[str, list[float]] = {"labels": [], "outcomes": []}
    results = {}

    def play(record_labels: bool) -> None:
        name = "labels" if record_labels else "outcomes"
        started = time.perf_counter()
        results[name] = run_episodes(agent, stock_env("test", 5), EPISODES, seed=5, greedy=False,
                                     record_labels=record_labels)
        seconds[name].append(time.perf_counter() - started)

    benchmark.pedantic(lambda: play(False), setup=lambda: play(True), rounds=ROUNDS, warmup_rounds=0, iterations=1)

    labelled, outcomes = results["labels"], results["outcomes"]
    np.testing.assert_array_equal(labelled.final_info["outcome"], outcomes.final_info["outcome"])
    np.testing.assert_array_equal(labelled.first_labels["saws"], outcomes.final_info["saws"])
    assert outcomes.first_labels == {} and outcomes.final_labels == {}
    ratio = min(seconds["labels"]) / min(seconds["outcomes"])
    benchmark.extra_info.update(labelled_over_outcome_only=round(ratio, 3), episodes=EPISODES, target=TARGET)
    print(f"\nlabelled play takes {ratio:.2f}× outcome-only play's time ({EPISODES} episodes)")
    assert ratio >= LIMIT, f"outcome-only play is only {ratio:.2f}× faster than labelled play"
    if ratio < TARGET:
        warnings.warn(f"outcome-only play is {ratio:.2f}× faster than labelled play, under the {TARGET} target")
