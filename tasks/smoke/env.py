"""SmokeGrid: an open N×N grid with an agent and a goal, fully observed as two one-hot planes.

The reference single environment is a ``gymnasium.Env`` (registered as ``mirl/SmokeGrid-v0``); training
and scoring use the NumPy-batched functions below, which the gymnasium env itself is built from, so the
two cannot drift apart.
"""

from __future__ import annotations

import hashlib
from typing import Any

import gymnasium as gym
import numpy as np

SIZE = 7
MAX_STEPS = 4 * SIZE
# up, down, left, right as (row, col) offsets
MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)
ACTION_NAMES = ("up", "down", "left", "right")


def observe(agent: np.ndarray, goal: np.ndarray, size: int = SIZE) -> np.ndarray:
    """[batch, 2, size, size] float32: plane 0 marks the agent, plane 1 the goal."""
    batch = len(agent)
    obs = np.zeros((batch, 2, size, size), dtype=np.float32)
    rows = np.arange(batch)
    obs[rows, 0, agent[:, 0], agent[:, 1]] = 1.0
    obs[rows, 1, goal[:, 0], goal[:, 1]] = 1.0
    return obs


def move(agent: np.ndarray, actions: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Positions after one move each; walking into the border leaves the agent where it is."""
    return np.clip(agent + MOVES[np.asarray(actions, dtype=np.int64)], 0, size - 1)


def manhattan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).sum(axis=-1)


def optimal_actions(agent: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """[batch, 4] bool: the moves that bring the agent one step closer to the goal."""
    after = np.stack([np.clip(agent + m, 0, SIZE - 1) for m in MOVES], axis=1)
    return manhattan(after, goal[:, None, :]) < manhattan(agent, goal)[:, None]


def greedy_walk(agent: Any, start: np.ndarray, goal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The agent's greedy episodes from ``start`` to ``goal`` (positions [n, 2]): whether each reached the goal
    within ``MAX_STEPS``, and the steps it took (``MAX_STEPS`` where it did not)."""
    import torch

    pos = start.copy()
    steps = np.zeros(len(pos), dtype=np.int64)
    done = np.zeros(len(pos), dtype=bool)
    with torch.no_grad():
        for _ in range(MAX_STEPS):
            logits, _ = agent(torch.from_numpy(observe(pos, goal)))
            pos = np.where(done[:, None], pos, move(pos, logits.argmax(1).numpy()))
            steps += ~done
            done |= np.all(pos == goal, axis=1)
    return done, steps


def cells_to_positions(cells: np.ndarray, size: int = SIZE) -> np.ndarray:
    cells = np.asarray(cells, dtype=np.int64)
    return np.stack([cells // size, cells % size], axis=-1)


def all_pairs(size: int = SIZE) -> np.ndarray:
    """Every (agent cell, goal cell) with the two cells different: [size²·(size²−1), 2]."""
    cells = np.arange(size * size)
    a, g = np.meshgrid(cells, cells, indexing="ij")
    keep = a != g
    return np.stack([a[keep], g[keep]], axis=1)


def split_of_pairs(pairs: np.ndarray, test_fraction: float = 0.3) -> np.ndarray:
    """True where an (agent, goal) pair belongs to the test pool; a fixed hash, identical for everyone.

    The pools never change with the salt; ``MIRL_TEST_SALT`` only changes which test-pool instances a
    scorer draws.
    """
    flags = np.empty(len(pairs), dtype=bool)
    for i, (a, g) in enumerate(pairs):
        digest = hashlib.sha256(f"smoke-pair|{a}|{g}".encode()).digest()
        flags[i] = digest[0] < 256 * test_fraction
    return flags


def pools() -> tuple[np.ndarray, np.ndarray]:
    """(train pool, test pool) of (agent cell, goal cell) pairs."""
    pairs = all_pairs()
    test = split_of_pairs(pairs)
    return pairs[~test], pairs[test]


class SmokeGridEnv(gym.Env):
    """One SmokeGrid episode at a time; reward 1 on reaching the goal, truncated after MAX_STEPS."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, render_mode: str | None = None):
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(2, SIZE, SIZE), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(4)
        self.render_mode = render_mode
        self.agent = np.zeros(2, dtype=np.int64)
        self.goal = np.zeros(2, dtype=np.int64)
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "agent" in options and "goal" in options:
            self.agent = np.asarray(options["agent"], dtype=np.int64)
            self.goal = np.asarray(options["goal"], dtype=np.int64)
            if np.array_equal(self.agent, self.goal):
                raise ValueError("agent and goal must start on different cells")
        else:
            a, g = self.np_random.choice(SIZE * SIZE, size=2, replace=False)
            self.agent, self.goal = cells_to_positions(np.array([a, g]))
        self.steps = 0
        return self._obs(), self._info()

    def step(self, action: int):
        self.agent = move(self.agent[None], np.array([action]))[0]
        self.steps += 1
        reached = bool(np.array_equal(self.agent, self.goal))
        truncated = not reached and self.steps >= MAX_STEPS
        return self._obs(), float(reached), reached, truncated, self._info()

    def _obs(self) -> np.ndarray:
        return observe(self.agent[None], self.goal[None])[0]

    def _info(self) -> dict[str, Any]:
        return {"agent": self.agent.copy(), "goal": self.goal.copy()}

    def render(self) -> str:
        grid = [["." for _ in range(SIZE)] for _ in range(SIZE)]
        grid[self.goal[0]][self.goal[1]] = "G"
        grid[self.agent[0]][self.agent[1]] = "A"
        return "\n".join("".join(row) for row in grid)


gym.register("mirl/SmokeGrid-v0", entry_point="mirl.tasks.smoke.env:SmokeGridEnv")


class SmokeGridVecEnv:
    """Batched SmokeGrid following mirl's vectorized-env protocol (``mirl.envs``: gymnasium's vector API with
    same-step autoreset, plus ``labels()`` and ``get_state()/set_state()``); start states come from one pool
    of (agent cell, goal cell) pairs."""

    def __init__(self, num_envs: int, pool: np.ndarray | None = None, seed: int = 0):
        self.num_envs = num_envs
        self.single_observation_space = gym.spaces.Box(0.0, 1.0, shape=(2, SIZE, SIZE), dtype=np.float32)
        self.single_action_space = gym.spaces.Discrete(4)
        self._pool = all_pairs() if pool is None else pool
        self._rng = np.random.default_rng(seed)
        self.agent = np.zeros((num_envs, 2), dtype=np.int64)
        self.goal = np.zeros((num_envs, 2), dtype=np.int64)
        self.steps = np.zeros(num_envs, dtype=np.int64)

    def _draw(self, mask: np.ndarray) -> None:
        picks = self._pool[self._rng.integers(0, len(self._pool), size=int(mask.sum()))]
        self.agent[mask] = cells_to_positions(picks[:, 0])
        self.goal[mask] = cells_to_positions(picks[:, 1])
        self.steps[mask] = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._draw(np.ones(self.num_envs, dtype=bool))
        return observe(self.agent, self.goal), {}

    def step(self, actions: np.ndarray):
        self.agent = move(self.agent, actions)
        self.steps += 1
        terminated = np.all(self.agent == self.goal, axis=1)
        truncated = ~terminated & (self.steps >= MAX_STEPS)
        reward = terminated.astype(np.float32)
        done = terminated | truncated
        if done.any():
            self._draw(done)
        return observe(self.agent, self.goal), reward, terminated, truncated, {}

    def labels(self) -> dict[str, np.ndarray]:
        """Exact labels of the current states."""
        return {
            "agent_cell": self.agent[:, 0] * SIZE + self.agent[:, 1],
            "goal_cell": self.goal[:, 0] * SIZE + self.goal[:, 1],
            "distance": manhattan(self.agent, self.goal),
        }

    def get_state(self) -> dict:
        return {"agent": self.agent.copy(), "goal": self.goal.copy(), "steps": self.steps.copy(),
                "rng": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        self.agent, self.goal, self.steps = state["agent"].copy(), state["goal"].copy(), state["steps"].copy()
        self._rng.bit_generator.state = state["rng"]

    def close(self) -> None:
        pass
