"""Env steps per second: the NumPy-batched maze (64 envs) against MiniGrid envs of the same size (9×9).

Two MiniGrid baselines: our ``MazeEnv`` (a MiniGrid subclass whose observation is the same small symbolic
array, so it skips MiniGrid's own observation encoding) and a stock MiniGrid env (``EmptyEnv(size=9)`` with
``FullyObsWrapper``, MiniGrid's standard fully observed encoding). All play uniformly random actions with
resets; the loops interleave round by round and each one's best round counts. The batched twin exists because
MiniGrid's per-step cost would eat a CPU training budget (a prototype measured ~170k vs ~3k steps/s).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

# timed in rounds by pytest-benchmark, which times nothing under xdist: CI runs these apart (-m timed)
pytestmark = pytest.mark.timed

NUM_ENVS = 64
BATCHED_STEPS = 200  # per round: 12,800 env steps
REFERENCE_STEPS = 1000  # per round
ROUNDS = 5
MIN_SPEEDUP_STOCK = 10.0
MIN_SPEEDUP_SUBCLASS = 2.0


def test_batched_maze_vs_minigrid(benchmark):
    import gymnasium as gym

    from mirl.tasks.maze.env import MazeVecEnv

    batched = MazeVecEnv(NUM_ENVS, goal_region=None)
    batched.reset(seed=0)
    reference = gym.make("mirl/Maze-v0", goal_region=None).unwrapped
    reference.reset(seed=0)
    from minigrid.envs import EmptyEnv
    from minigrid.wrappers import FullyObsWrapper

    stock = FullyObsWrapper(EmptyEnv(size=9))
    stock.reset(seed=0)
    rng = np.random.default_rng(0)
    rates = {"batched": [], "minigrid": [], "stock": []}

    def minigrid_round() -> None:
        for name, env, actions_n in (("minigrid", reference, 4), ("stock", stock, 3)):
            actions = rng.integers(0, actions_n, size=REFERENCE_STEPS)
            started = time.perf_counter()
            for action in actions:
                _, _, terminated, truncated, _ = env.step(int(action))
                if terminated or truncated:
                    env.reset()
            rates[name].append(REFERENCE_STEPS / (time.perf_counter() - started))

    def batched_round() -> None:
        actions = rng.integers(0, 4, size=(BATCHED_STEPS, NUM_ENVS))
        started = time.perf_counter()
        for a in actions:
            batched.step(a)
        rates["batched"].append(BATCHED_STEPS * NUM_ENVS / (time.perf_counter() - started))

    benchmark.pedantic(batched_round, setup=minigrid_round, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    best = {name: max(r) for name, r in rates.items()}
    speedup = {name: best["batched"] / best[name] for name in ("minigrid", "stock")}
    benchmark.extra_info.update(**{f"{k}_steps_per_s": round(v) for k, v in best.items()},
                                speedup_vs_subclass=round(speedup["minigrid"], 1),
                                speedup_vs_stock=round(speedup["stock"], 1))
    assert speedup["stock"] > MIN_SPEEDUP_STOCK and speedup["minigrid"] > MIN_SPEEDUP_SUBCLASS, best
