"""gymnasium's FrozenLake on random 5×5 maps (a new map every episode), as a mirl VecEnv.

A map is a test map when its hash says so (``mirl.seeding.hash_split``: one in five), so train and test maps never
meet however many are drawn.
Observations are three 5×5 planes: the agent, the holes, the goal. Labels: the agent's square and its shortest-path
distance to the goal (holes avoided)."""

from __future__ import annotations

from collections import deque

import numpy as np

from mirl.seeding import hash_split

SIZE = 5
FROZEN = 0.8  # the chance a square is frozen (safe) when a map is drawn
MAX_STEPS = 40
DISTANCE_CLASSES = 9  # 0..7 steps, and 8 for eight or more


def draw_map(seed: int, split: str) -> list[str]:
    """A random map with a path from start to goal (gymnasium checks), of ``split``."""
    from gymnasium.envs.toy_text.frozen_lake import generate_random_map

    rng = np.random.default_rng(seed)
    while True:
        desc = generate_random_map(size=SIZE, p=FROZEN, seed=int(rng.integers(2**31)))
        if hash_split("".join(desc).encode(), 5) == split:
            return desc


def observe(env, square: int) -> np.ndarray:
    desc = env.unwrapped.desc
    planes = np.zeros((3, SIZE, SIZE), dtype=np.float32)
    planes[0].flat[int(square)] = 1.0
    planes[1] = desc == b"H"
    planes[2] = desc == b"G"
    return planes


def distance_to_goal(desc: np.ndarray, square: int) -> int:
    """Steps on the shortest walk from ``square`` to the goal over frozen squares."""
    goal = int(np.flatnonzero(desc.ravel() == b"G")[0])
    seen, queue = {square: 0}, deque([square])
    while queue:
        s = queue.popleft()
        if s == goal:
            return seen[s]
        row, col = divmod(s, SIZE)
        for r, c in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)):
            t = r * SIZE + c
            if 0 <= r < SIZE and 0 <= c < SIZE and t not in seen and desc[r, c] != b"H":
                seen[t] = seen[s] + 1
                queue.append(t)
    return 10**6  # on a hole: the episode is over


def labels(env) -> dict[str, int]:
    square = int(env.unwrapped.s)
    distance = distance_to_goal(env.unwrapped.desc, square)
    return {"square": square, "distance": distance, "distance_class": min(distance, DISTANCE_CLASSES - 1)}


def vec_env(num_envs: int, seed: int, split: str):
    from gymnasium.envs.toy_text.frozen_lake import FrozenLakeEnv

    from mirl.envs import GymnasiumVecEnv

    return GymnasiumVecEnv(lambda s: FrozenLakeEnv(desc=draw_map(s, split), is_slippery=False), num_envs, seed=seed,
                           observe=observe, labels=labels, max_episode_steps=MAX_STEPS)
