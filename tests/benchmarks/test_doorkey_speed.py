"""Counterfactual pairs per second (target: ≥ 1,000): a (base, source) pair of DoorKey-8x8 states →
the base with the source's has_key, its observation and the expert's optimal actions on it (the label a planted
agent is trained and scored against).

The absolute target is reported (``extra_info``) and warned about, not asserted: a busy machine can halve it.
Asserted is a ratio to a baseline timed in the same rounds: MiniGrid's own ``reset`` of a DoorKey-8x8 (which
builds a grid and its observation, the work a pair redoes by hand). A pair costs a fraction of a reset."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

# timed in rounds by pytest-benchmark, which times nothing under xdist: CI runs these apart (-m timed)
pytestmark = pytest.mark.timed

TARGET = 1_000
PAIRS = 2_000
RESETS = 500
MAX_PAIR_OVER_RESET = 1.0  # measured ~0.2 on a busy 2-core AMD EPYC


def test_counterfactual_pairs_per_second(benchmark):
    from minigrid.envs import DoorKeyEnv

    from mirl.tasks.doorkey import env as D

    env, states = DoorKeyEnv(size=8), []
    rng = np.random.default_rng(0)
    for episode in range(200):
        env.reset(seed=episode)
        for _ in range(int(rng.integers(0, 18))):
            _, _, terminated, _, _ = env.step(min(D.expert_actions(D.state_of(env))))
            if terminated:
                break
        states.append(D.state_of(env))
    pair_seconds, reset_seconds = [], []

    def resets() -> None:
        started = time.perf_counter()
        for seed in range(RESETS):
            env.reset(seed=seed)
        reset_seconds.append((time.perf_counter() - started) / RESETS)

    def one_round() -> None:
        resets()
        picks = rng.integers(0, len(states), size=(PAIRS, 2))
        started = time.perf_counter()
        made = []
        for b, s in picks:
            cf = D.key_counterfactual(states[b], states[s])
            if cf is not None:
                made.append((cf, D.expert_actions(cf)))
        D.observe([cf for cf, _ in made])
        pair_seconds.append((time.perf_counter() - started) / PAIRS)
        resets()

    benchmark.pedantic(one_round, rounds=3, warmup_rounds=1, iterations=1)
    rate = 1 / min(pair_seconds)
    ratio = float(np.median(pair_seconds) / np.median(reset_seconds))
    benchmark.extra_info.update(pairs_per_s=round(rate), resets_per_s=round(1 / min(reset_seconds)),
                                pair_over_reset=round(ratio, 3))
    if rate < TARGET:
        warnings.warn(f"doorkey counterfactual pairs: {rate:,.0f}/s, under the {TARGET:,}/s target")
    assert ratio <= MAX_PAIR_OVER_RESET, (ratio, rate)
