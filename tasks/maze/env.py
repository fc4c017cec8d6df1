"""Maze: random perfect mazes with one goal ("cheese"), the agent starting bottom-left, 4-direction moves.

Two implementations with one semantics:

- ``MazeEnv``, a ``MiniGridEnv`` subclass registered with gymnasium (``mirl/Maze-v0`` = 9×9, and
  ``mirl/Maze-{size}x{size}-v0`` for the other sizes): MiniGrid's grid, objects and rendering.
- ``MazeVecEnv``, a NumPy-batched twin for training and scoring (mirl's vectorized-env protocol: same-step
  autoreset, ``labels()``, ``get_state()/set_state()``), ~50× faster than stepping MiniGrid.

Both draw every maze from the same generator (``generate``) with the same NumPy Generator calls, so the same
seed gives the same mazes, observations, rewards and ends (a test steps both side by side).

Coordinates are (row, col) of the outer grid, row 0 at the top; the border is wall. A size-S maze has
(S-1)/2 × (S-1)/2 cells at odd coordinates, joined by Kruskal's algorithm (a random spanning tree: one path
between any two squares, and more branching than a depth-first maze, so fewer goals lie on the way to the
corner). The agent starts in the bottom-left square, the corner is the top-right square. The observation is
fully observed and symbolic: planes wall / agent / goal over the inner (S-2)×(S-2) squares (the border is left
out; convolution padding stands in for it), so conv units stay aligned with squares.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from mirl.seeding import hash_split

SIZES = (7, 9, 11, 13, 15)  # registered outer sizes
DEFAULT_SIZE = 9
# up, down, left, right as (row, col) offsets
MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)
ACTION_NAMES = ("up", "down", "left", "right")
PLANES = ("wall", "agent", "goal")


def max_steps(size: int) -> int:
    """Episode limit: 4 × the number of inner squares (a maze's longest path is under half of them)."""
    return 4 * (size - 2) ** 2


def check_size(size: int) -> int:
    if size not in SIZES:
        raise ValueError(f"maze size {size} is not registered; use one of {list(SIZES)} (odd outer sizes)")
    return size


def start_square(size: int) -> tuple[int, int]:
    return (size - 2, 1)


def corner_square(size: int) -> tuple[int, int]:
    return (1, size - 2)


SPLITS = (None, "train", "test")
TEST_BUCKETS = 10  # one layout in ten (by a hash of its walls) is held out for test splits


def layout_split(walls: np.ndarray) -> str:
    """"test" for the fixed tenth of all layouts held out from training, else "train" (by a hash of the walls)."""
    return hash_split(np.packbits(walls).tobytes(), TEST_BUCKETS)


def generate(rng: np.random.Generator, size: int, split: str | None = None) -> np.ndarray:
    """A random perfect maze of ``split``'s layouts (None: any): [size, size] bool, True = wall.

    A 9×9 maze has only 100,352 layouts (spanning trees of the 4×4 cell grid), so a training run sees most of
    them; splits keep train and test layouts disjoint by rejection (≈ 1.1 draws for train, ≈ 10 for test)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    while True:
        walls = _kruskal(rng, size)
        if split is None or layout_split(walls) == split:
            return walls


def _kruskal(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random perfect maze: [size, size] bool, True = wall. Kruskal over the odd-coordinate cells."""
    n = (size - 1) // 2
    walls = np.ones((size, size), dtype=bool)
    walls[1::2, 1::2] = False
    # candidate passages between horizontally then vertically adjacent cells, in a random order
    edges = [(r, c, r, c + 1) for r in range(n) for c in range(n - 1)] + [
        (r, c, r + 1, c) for r in range(n - 1) for c in range(n)]
    parent = list(range(n * n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for k in rng.permutation(len(edges)):
        r0, c0, r1, c1 = edges[k]
        a, b = find(r0 * n + c0), find(r1 * n + c1)
        if a != b:
            parent[a] = b
            walls[r0 + r1 + 1, c0 + c1 + 1] = False  # the square between cells (2r+1, 2c+1) and its neighbour
    return walls


def goal_candidates(walls: np.ndarray, region: int | None) -> np.ndarray:
    """[k, 2] open squares a goal may take: the top-right ``region``×``region`` inner squares (training), or
    every open square but the start (``region`` None: anywhere). Row-major order."""
    size = walls.shape[0]
    ok = ~walls.copy()
    ok[start_square(size)] = False
    if region is not None:
        inner = np.zeros_like(ok)
        inner[1:1 + region, size - 1 - region:size - 1] = True
        ok &= inner
    return np.argwhere(ok)


def check_square(walls: np.ndarray, square: Any, what: str = "goal") -> tuple[int, int]:
    """(row, col) if ``square`` is an open square of the maze, else a one-line ``ValueError`` saying why."""
    size = walls.shape[0]
    try:
        row, col = (int(v) for v in square)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {square!r} must be a (row, col) pair of integers") from None
    hint = "; choose an open square, e.g. from goal_candidates(walls, None)"
    if not (0 <= row < size and 0 <= col < size):
        raise ValueError(f"{what} ({row}, {col}) is outside the {size}×{size} grid{hint}")
    if walls[row, col]:
        raise ValueError(f"{what} ({row}, {col}) is inside a wall{hint}")
    if (row, col) == start_square(size) and what == "goal":
        raise ValueError(f"{what} ({row}, {col}) is the agent's start square{hint}")
    return row, col


def draw_goal(rng: np.random.Generator, walls: np.ndarray, region: int | None) -> np.ndarray:
    candidates = goal_candidates(walls, region)
    return candidates[rng.integers(len(candidates))]


def observe(walls: np.ndarray, agent: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """[batch, 3, S-2, S-2] float32 planes wall / agent / goal over the inner squares."""
    batch, size = walls.shape[0], walls.shape[1]
    obs = np.zeros((batch, 3, size - 2, size - 2), dtype=np.float32)
    obs[:, 0] = walls[:, 1:-1, 1:-1]
    rows = np.arange(batch)
    obs[rows, 1, agent[:, 0] - 1, agent[:, 1] - 1] = 1.0
    obs[rows, 2, goal[:, 0] - 1, goal[:, 1] - 1] = 1.0
    return obs


def move(walls: np.ndarray, agent: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Positions after one move each; a move into a wall leaves the agent where it is."""
    target = agent + MOVES[np.asarray(actions, dtype=np.int64)]
    blocked = walls[np.arange(len(agent)), target[:, 0], target[:, 1]]
    return np.where(blocked[:, None], agent, target)


def reward(steps: np.ndarray, size: int) -> np.ndarray:
    """MiniGrid's success reward, 1 − 0.9 · steps / max_steps."""
    return (1.0 - 0.9 * (np.asarray(steps) / max_steps(size))).astype(np.float32)


def distances(walls: np.ndarray, source: np.ndarray) -> np.ndarray:
    """[batch, S, S] shortest-path lengths from ``source`` [batch, 2] to every square (-1: wall)."""
    batch, size = walls.shape[0], walls.shape[1]
    unreached = np.iinfo(np.int64).max // 2
    dist = np.full((batch, size, size), unreached, dtype=np.int64)
    dist[np.arange(batch), source[:, 0], source[:, 1]] = 0
    open_ = ~walls
    for _ in range(size * size):
        best = dist.copy()
        best[:, 1:, :] = np.minimum(best[:, 1:, :], dist[:, :-1, :] + 1)
        best[:, :-1, :] = np.minimum(best[:, :-1, :], dist[:, 1:, :] + 1)
        best[:, :, 1:] = np.minimum(best[:, :, 1:], dist[:, :, :-1] + 1)
        best[:, :, :-1] = np.minimum(best[:, :, :-1], dist[:, :, 1:] + 1)
        best[~open_] = unreached
        if np.array_equal(best, dist):
            break
        dist = best
    dist[~open_] = -1
    return dist


def path(walls: np.ndarray, start: tuple[int, int], end: tuple[int, int]) -> list[tuple[int, int]]:
    """The (unique, in a perfect maze) shortest path of squares from ``start`` to ``end``, both included."""
    dist = distances(walls[None], np.array([end]))[0]
    if dist[start] < 0:
        raise ValueError(f"no path from {start} to {end}")
    square, squares = start, [start]
    while square != end:
        for dr, dc in MOVES:
            nxt = (square[0] + dr, square[1] + dc)
            if dist[nxt] == dist[square] - 1:
                square = nxt
                break
        squares.append(square)
    return squares


def maze_labels(walls: np.ndarray, goal: tuple[int, int]) -> dict[str, Any]:
    """Exact labels of one maze: the paths from the start to the goal and to the corner, the decision square
    (the last square the two share), and whether the goal lies on the way to the corner."""
    size = walls.shape[0]
    to_goal = path(walls, start_square(size), tuple(goal))
    to_corner = path(walls, start_square(size), corner_square(size))
    shared = 0
    while shared < min(len(to_goal), len(to_corner)) and to_goal[shared] == to_corner[shared]:
        shared += 1
    return {
        "path_to_goal": to_goal, "path_to_corner": to_corner, "decision_square": to_goal[shared - 1],
        "goal_on_corner_path": tuple(goal) in set(to_corner),
    }


# ----------------------------------------------------------------------------------------------------
# The batched twin


class MazeVecEnv:
    """``num_envs`` mazes of one size, a new maze and goal at every episode start.

    ``goal_region``: the goal is drawn from the top-right r×r inner squares (training), or anywhere (None).
    ``split``: "train" or "test" layouts only (disjoint; see ``layout_split``), or any (None).
    One NumPy Generator, seeded at ``reset``, draws every maze and goal, env by env in index order.
    A step's info holds, per env, whether its episode stood on the top-right corner at an earlier step
    (``corner_visited``) and whether the goal lies on the way between the start and the corner or the corner on
    the way to the goal (``paths_nested``: there "goal or corner first" is decided by the maze).
    """

    def __init__(self, num_envs: int, size: int = DEFAULT_SIZE, goal_region: int | None = 1, seed: int = 0,
                 split: str | None = None):
        self.size = check_size(size)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        self.split = split
        if goal_region is not None and not 1 <= goal_region <= size - 2:
            raise ValueError(f"goal_region must be between 1 and {size - 2} (or None: anywhere), got {goal_region}")
        self.num_envs = num_envs
        self.goal_region = goal_region
        self.max_steps = max_steps(size)
        inner = size - 2
        self.single_observation_space = gym.spaces.Box(0.0, 1.0, shape=(3, inner, inner), dtype=np.float32)
        self.single_action_space = gym.spaces.Discrete(4)
        self._rng = np.random.default_rng(seed)
        self.walls = np.ones((num_envs, size, size), dtype=bool)
        self.agent = np.zeros((num_envs, 2), dtype=np.int64)
        self.goal = np.zeros((num_envs, 2), dtype=np.int64)
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self._goal_dist = np.zeros((num_envs, size, size), dtype=np.int64)
        self._corner_dist = np.zeros((num_envs, size, size), dtype=np.int64)
        self.corner_visited = np.zeros(num_envs, dtype=bool)

    def _new_episodes(self, envs: np.ndarray) -> None:
        for i in envs:
            self.walls[i] = generate(self._rng, self.size, self.split)
            self.goal[i] = draw_goal(self._rng, self.walls[i], self.goal_region)
        self.agent[envs] = start_square(self.size)
        self.steps[envs] = 0
        self.corner_visited[envs] = False
        self._goal_dist[envs] = distances(self.walls[envs], self.goal[envs])
        corner = np.tile(corner_square(self.size), (len(envs), 1))
        self._corner_dist[envs] = distances(self.walls[envs], corner)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._new_episodes(np.arange(self.num_envs))
        return observe(self.walls, self.agent, self.goal), {}

    def step(self, actions: np.ndarray):
        self.agent = move(self.walls, self.agent, actions)
        self.steps += 1
        terminated = np.all(self.agent == self.goal, axis=1)
        truncated = ~terminated & (self.steps >= self.max_steps)
        rewards = np.where(terminated, reward(self.steps, self.size), 0.0).astype(np.float32)
        done = terminated | truncated
        info = {"corner_visited": self.corner_visited.copy(), "paths_nested": self.paths_nested()}
        self.corner_visited |= np.all(self.agent == corner_square(self.size), axis=1) & ~done
        if done.any():
            self._new_episodes(np.flatnonzero(done))
        return observe(self.walls, self.agent, self.goal), rewards, terminated, truncated, info

    def paths_nested(self) -> np.ndarray:
        """[B] bool: do the start's shortest paths to the goal and to the top-right corner not part (the goal on
        the way to the corner, or the corner on the way to the goal)?"""
        rows, start, corner = np.arange(self.num_envs), start_square(self.size), corner_square(self.size)
        start_to_corner = self._corner_dist[rows, start[0], start[1]]
        start_to_goal = self._goal_dist[rows, start[0], start[1]]
        goal_on_way = start_to_goal + self._corner_dist[rows, self.goal[:, 0], self.goal[:, 1]] == start_to_corner
        corner_on_way = start_to_goal == start_to_corner + self._goal_dist[rows, corner[0], corner[1]]
        return goal_on_way | corner_on_way

    def place_goals(self, goals: np.ndarray, envs: np.ndarray | None = None) -> np.ndarray:
        """Move the goal of the current episode of ``envs`` (default: all) to ``goals`` [k, 2] (validated);
        returns the new observations. Scorers use it right after ``reset`` to set up chosen episodes."""
        envs = np.arange(self.num_envs) if envs is None else np.asarray(envs)
        goals = np.asarray(goals, dtype=np.int64).reshape(len(envs), 2)
        for i, goal in zip(envs, goals):
            self.goal[i] = check_square(self.walls[i], goal)
        self._goal_dist[envs] = distances(self.walls[envs], self.goal[envs])
        return observe(self.walls, self.agent, self.goal)

    def labels(self) -> dict[str, np.ndarray]:
        """Exact labels of the current states: squares as row * size + col of the outer grid; distances along
        the maze; ``toward_goal`` / ``toward_corner`` [B, 4] the moves that shorten each distance."""
        rows = np.arange(self.num_envs)
        a = self.agent
        after = np.stack([move(self.walls, a, np.full(self.num_envs, k)) for k in range(4)], axis=1)
        goal_after = self._goal_dist[rows[:, None], after[..., 0], after[..., 1]]
        corner_after = self._corner_dist[rows[:, None], after[..., 0], after[..., 1]]
        goal_now = self._goal_dist[rows, a[:, 0], a[:, 1]]
        corner_now = self._corner_dist[rows, a[:, 0], a[:, 1]]
        return {
            "agent_square": a[:, 0] * self.size + a[:, 1],
            "goal_square": self.goal[:, 0] * self.size + self.goal[:, 1],
            "goal_row": self.goal[:, 0].copy(), "goal_col": self.goal[:, 1].copy(),
            "goal_distance": goal_now, "corner_distance": corner_now,
            "toward_goal": goal_after < goal_now[:, None], "toward_corner": corner_after < corner_now[:, None],
        }

    def get_state(self) -> dict:
        return {"walls": self.walls.copy(), "agent": self.agent.copy(), "goal": self.goal.copy(),
                "steps": self.steps.copy(), "rng": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        self.walls, self.agent = state["walls"].copy(), state["agent"].copy()
        self.goal, self.steps = state["goal"].copy(), state["steps"].copy()
        self._rng.bit_generator.state = state["rng"]
        self._goal_dist = distances(self.walls, self.goal)
        self._corner_dist = distances(self.walls, np.tile(corner_square(self.size), (self.num_envs, 1)))

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------------------------------
# The MiniGrid reference env

from minigrid.core.grid import Grid  # noqa: E402  (kept next to the class that needs them)
from minigrid.core.mission import MissionSpace  # noqa: E402
from minigrid.core.world_object import Goal, Wall  # noqa: E402
from minigrid.minigrid_env import MiniGridEnv  # noqa: E402

_DIRECTION = {0: 3, 1: 1, 2: 2, 3: 0}  # our action → MiniGrid's facing (0 right, 1 down, 2 left, 3 up)


class MazeEnv(MiniGridEnv):
    """The maze as a MiniGrid environment: same generator, same moves (up/down/left/right instead of MiniGrid's
    turn/forward; the agent turns to face where it moved), same reward, same observation planes."""

    def __init__(self, size: int = DEFAULT_SIZE, goal_region: int | None = 1, render_mode: str | None = None,
                 split: str | None = None, **kwargs: Any):
        self.maze_size = check_size(size)
        self.goal_region = goal_region
        self.split = split
        super().__init__(
            mission_space=MissionSpace(mission_func=lambda: "get to the cheese"), grid_size=size,
            max_steps=max_steps(size), see_through_walls=True, render_mode=render_mode, **kwargs,
        )
        inner = size - 2
        self.action_space = gym.spaces.Discrete(4)
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(3, inner, inner), dtype=np.float32)
        self.walls = np.ones((size, size), dtype=bool)
        self.goal_square = np.zeros(2, dtype=np.int64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """``options={"goal": (row, col)}`` puts the goal on that open square of the generated maze."""
        self._goal_option = None if options is None else options.get("goal")
        return super().reset(seed=seed, options=options)

    def _gen_grid(self, width: int, height: int) -> None:
        self.walls = generate(self.np_random, self.maze_size, self.split)
        self.goal_square = draw_goal(self.np_random, self.walls, self.goal_region)
        if getattr(self, "_goal_option", None) is not None:
            self.goal_square = np.array(check_square(self.walls, self._goal_option), dtype=np.int64)
        self.grid = Grid(width, height)
        for r, c in np.argwhere(self.walls):
            self.grid.set(int(c), int(r), Wall())
        self.put_obj(Goal(), int(self.goal_square[1]), int(self.goal_square[0]))
        row, col = start_square(self.maze_size)
        self.agent_pos = (col, row)
        self.agent_dir = 0
        self.mission = "get to the cheese"

    def _square(self) -> np.ndarray:
        x, y = self.agent_pos
        return np.array([y, x], dtype=np.int64)

    def gen_obs(self) -> np.ndarray:  # MiniGrid's reset and step return this
        return observe(self.walls[None], self._square()[None], self.goal_square[None])[0]

    def step(self, action: int):
        self.step_count += 1
        square = move(self.walls[None], self._square()[None], np.array([action]))[0]
        self.agent_dir = _DIRECTION[int(action)]
        self.agent_pos = (int(square[1]), int(square[0]))
        cell = self.grid.get(*self.agent_pos)
        terminated = cell is not None and cell.type == "goal"
        value = float(reward(self.step_count, self.maze_size)) if terminated else 0.0
        truncated = not terminated and self.step_count >= self.max_steps
        if self.render_mode == "human":
            self.render()
        return self.gen_obs(), value, terminated, truncated, {}


gym.register("mirl/Maze-v0", entry_point="mirl.tasks.maze.env:MazeEnv", kwargs={"size": DEFAULT_SIZE})
for _size in SIZES:
    gym.register(f"mirl/Maze-{_size}x{_size}-v0", entry_point="mirl.tasks.maze.env:MazeEnv", kwargs={"size": _size})
