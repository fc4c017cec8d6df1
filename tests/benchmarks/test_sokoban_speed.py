"""Sokoban throughput (issue 6's targets, one core): the batched env at batch 256 with resets from a level pool
and the one-hot observation (≥ 1,000,000 steps/s), and the reverse-play generator (≥ 5,000 solvable levels/s
at 6×6 with 2 boxes, ≥ 50/s at 10×10 with 4 boxes). Each figure is the best of a few rounds.

For contrast the issue measured gym-sokoban at 272 steps/s and 0.48 levels/s (10×10, 4 boxes); it no longer
installs on Python 3.11 with current setuptools (it imports ``pkg_resources``), so it is not run side by side.
"""

from __future__ import annotations

import time

import numpy as np

ENV_TARGET, GEN_SMALL_TARGET, GEN_LARGE_TARGET = 1_000_000, 5_000, 50


def test_batched_env_and_generator_throughput(benchmark):
    from mirl.tasks.sokoban import env as S

    pool = S.generate(5_000, seed=0)
    env = S.SokobanVecEnv(256, pool, seed=0)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 4, size=(400, 256))
    rates = {"env": [], "gen_6x6_2": [], "gen_10x10_4": []}

    def env_round() -> None:
        started = time.perf_counter()
        for a in actions:
            env.step(a)
        rates["env"].append(actions.size / (time.perf_counter() - started))

    def generator_round() -> None:
        for name, n, interior, boxes in (("gen_6x6_2", 4_000, 6, 2), ("gen_10x10_4", 200, 8, 4)):
            started = time.perf_counter()
            levels = S.generate(n, seed=len(rates[name]) + 1, interior=interior, boxes=boxes)
            rates[name].append(len(levels) / (time.perf_counter() - started))

    benchmark.pedantic(env_round, setup=generator_round, rounds=3, warmup_rounds=1, iterations=1)
    best = {name: max(r) for name, r in rates.items()}
    benchmark.extra_info.update({f"{k}_per_s": round(v) for k, v in best.items()})
    assert best["env"] >= ENV_TARGET, best
    assert best["gen_6x6_2"] >= GEN_SMALL_TARGET and best["gen_10x10_4"] >= GEN_LARGE_TARGET, best
