"""DoorKey: MiniGrid's own ``DoorKeyEnv``, batched and fully observed, with exact causal variables, valid
counterfactual states and a shortest-path expert.

A state is held the way MiniGrid encodes it — ``grid`` [W, H, 3] (object, colour, state indices, x first),
``agent`` (x, y), ``direction`` (0 right, 1 down, 2 left, 3 up) and ``carrying`` (the key, or nothing) — so
that counterfactuals are NumPy edits (thousands per second) and ``to_env`` turns any of them back into a real
``DoorKeyEnv`` (tests check the two agree).

Variables: ``has_key`` (the agent carries the key), ``door_open``, the key's and the door's cells, the agent's
cell and direction. Counterfactuals change one variable and nothing else: give the agent the key (the key
leaves the grid), take it away (the key is put on a given empty cell), open or close the door. A counterfactual
that cannot exist (the key already carried, the door already open, a key put on a wall) is refused in one line.

The observation is MiniGrid's full encoding with the agent drawn in (as ``FullyObsWrapper``), one-hot over 11
object, 6 colour and 4 state planes (21), on the interior (the border is wall), row-major: [21, S-2, S-2]. As in
MiniGrid, the carried key is not drawn: ``has_key`` shows only as the key's absence from the grid.
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

SIZES = (5, 6, 7, 8)
DEFAULT_SIZE = 8
OBJECTS = {"unseen": 0, "empty": 1, "wall": 2, "floor": 3, "door": 4, "key": 5, "ball": 6, "box": 7, "goal": 8,
           "lava": 9, "agent": 10}  # minigrid.core.constants.OBJECT_TO_IDX (a test checks they agree)
YELLOW = 4  # COLOR_TO_IDX["yellow"]: DoorKey's key and door
OPEN, CLOSED, LOCKED = 0, 1, 2  # STATE_TO_IDX
PLANES = 11 + 6 + 4
DIRECTIONS = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]])  # minigrid DIR_TO_VEC: right, down, left, up
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE = range(6)
NUM_ACTIONS = 6  # MiniGrid's actions without "done", which DoorKey never needs
ACTION_NAMES = ("left", "right", "forward", "pickup", "drop", "toggle")


# Layouts come from MiniGrid's reset seed: "train" envs draw seeds below this, "test" envs from it on. The 8×8
# layout space is small (20 door positions × key × start), so the two seed ranges share most states; a split
# by layout keeps whole layouts apart: the door's position (the wall's column and the door's row) decides it.
TEST_SEEDS_FROM = 1_000_000_000
SPLITS = (None, "train", "test")


def layout_split(door: tuple[int, int]) -> str:
    """"test" for a fifth of the door positions (on 8×8 one per wall column and one per door row), else "train".
    States of different splits never coincide: their walls differ."""
    return "test" if (door[0] + 2 * door[1]) % 5 == 0 else "train"


def reset_in(env, seed_of, layouts: str | None) -> None:
    """Reset a MiniGrid ``DoorKeyEnv`` on the reset seed ``seed_of()`` draws, drawn again until the layout is in
    the ``layouts`` split ("train", "test"; None: any)."""
    while True:
        env.reset(seed=seed_of())
        if layouts is None or layout_split(state_of(env).door) == layouts:
            return


class CounterfactualError(ValueError):
    """A counterfactual that cannot exist; the message says why and what would."""


def check_size(size: int) -> int:
    if size not in SIZES:
        raise ValueError(f"DoorKey size {size} is not offered; use one of {list(SIZES)} (MiniGrid's DoorKey-NxN)")
    return size


@dataclass
class State:
    """One DoorKey state in MiniGrid's encoding (x first)."""

    grid: np.ndarray  # [W, H, 3] uint8
    agent: tuple[int, int]
    direction: int
    carrying: bool

    def copy(self) -> State:
        return State(self.grid.copy(), tuple(self.agent), int(self.direction), bool(self.carrying))

    def cells(self, kind: str) -> list[tuple[int, int]]:
        xs, ys = np.nonzero(self.grid[:, :, 0] == OBJECTS[kind])
        return list(zip(xs.tolist(), ys.tolist()))

    @property
    def door(self) -> tuple[int, int]:
        return self.cells("door")[0]

    @property
    def key(self) -> tuple[int, int] | None:
        cells = self.cells("key")
        return cells[0] if cells else None

    @property
    def goal(self) -> tuple[int, int]:
        return self.cells("goal")[0]

    @property
    def door_open(self) -> bool:
        return int(self.grid[self.door][2]) == OPEN

    def variables(self) -> dict[str, Any]:
        key = self.key
        return {"has_key": self.carrying, "door_open": self.door_open, "key_cell": key, "door_cell": self.door,
                "agent_cell": tuple(self.agent), "agent_dir": self.direction}


_EMPTY_CODE = (1, 0, 0)  # MiniGrid's encoding of an empty cell


def encode_grid(grid) -> np.ndarray:
    """``grid.encode()`` (MiniGrid's [W, H, 3] encoding, x first) in one pass over its cells: MiniGrid's own
    loops through ``get(i, j)`` and was a third of a batched step's time."""
    codes = np.array([_EMPTY_CODE if o is None else o.encode() for o in grid.grid], dtype=np.uint8)
    return np.ascontiguousarray(codes.reshape(grid.height, grid.width, 3).transpose(1, 0, 2))


def state_of(env) -> State:
    """The state of a (MiniGrid) ``DoorKeyEnv``."""
    carrying = env.carrying is not None
    if carrying and env.carrying.type != "key":
        raise ValueError(f"the agent carries a {env.carrying.type}; DoorKey states carry nothing or the key")
    return State(encode_grid(env.grid), tuple(int(v) for v in env.agent_pos), int(env.agent_dir), carrying)


def to_env(state: State, env=None):
    """A real ``DoorKeyEnv`` in ``state`` (``env``, or a new one of the state's size, is reset and overwritten)."""
    from minigrid.core.grid import Grid
    from minigrid.core.world_object import Key
    from minigrid.envs import DoorKeyEnv

    size = state.grid.shape[0]
    if env is None:
        env = DoorKeyEnv(size=size)
        env.reset(seed=0)
    grid, _ = Grid.decode(state.grid)
    env.grid = grid
    env.agent_pos = tuple(state.agent)
    env.agent_dir = int(state.direction)
    env.carrying = Key("yellow") if state.carrying else None
    return env


def observe(states: list[State]) -> np.ndarray:
    """[N, 21, S-2, S-2] uint8: one-hot object / colour / state planes over the interior, the agent drawn in
    (object 'agent', colour red, state = its direction), rows = y."""
    n, size = len(states), states[0].grid.shape[0]
    codes = np.stack([s.grid for s in states]).copy()  # [N, W, H, 3]
    for i, s in enumerate(states):
        codes[i, s.agent[0], s.agent[1]] = (OBJECTS["agent"], 0, s.direction)
    inner = codes[:, 1:-1, 1:-1].transpose(0, 2, 1, 3)  # [N, y, x, 3]
    out = np.zeros((n, PLANES, size - 2, size - 2), dtype=np.uint8)
    for channel, offset, count in ((0, 0, 11), (1, 11, 6), (2, 17, 4)):
        out[:, offset:offset + count] = (inner[..., channel][:, None] == np.arange(count)[None, :, None, None])
    return out


# ----------------------------------------------------------------------------------------------------
# Counterfactuals


def with_key(state: State, has_key: bool, key_cell: tuple[int, int] | None = None) -> State:
    """``state`` with ``has_key`` set: True takes the key off the grid into the agent's hands; False puts it on
    ``key_cell`` (an empty cell, not the agent's) — the key must be somewhere when it is not carried."""
    if has_key == state.carrying:
        raise CounterfactualError(f"the agent {'already carries' if has_key else 'does not carry'} the key; a "
                                  f"has_key={has_key} counterfactual of this state is the state itself")
    out = state.copy()
    if has_key:
        out.grid[state.key] = (OBJECTS["empty"], 0, 0)
        out.carrying = True
        return out
    if key_cell is None:
        raise CounterfactualError("has_key=False needs key_cell: the cell the key lies on (an empty cell)")
    x, y = (int(v) for v in key_cell)
    size = state.grid.shape[0]
    if not (0 <= x < size and 0 <= y < size):
        raise CounterfactualError(f"key_cell ({x}, {y}) is outside the {size}×{size} grid")
    if state.grid[x, y, 0] != OBJECTS["empty"] or (x, y) == tuple(state.agent):
        what = "the agent" if (x, y) == tuple(state.agent) else \
            next(k for k, v in OBJECTS.items() if v == state.grid[x, y, 0])
        raise CounterfactualError(f"key_cell ({x}, {y}) holds {what}; the key can only be put on an empty cell")
    out.grid[x, y] = (OBJECTS["key"], YELLOW, 0)
    out.carrying = False
    return out


def with_door(state: State, door_open: bool) -> State:
    """``state`` with the door open (True) or locked again (False)."""
    if door_open == state.door_open:
        raise CounterfactualError(f"the door is already {'open' if door_open else 'closed'}; a "
                                  f"door_open={door_open} counterfactual of this state is the state itself")
    out = state.copy()
    out.grid[state.door] = (OBJECTS["door"], YELLOW, OPEN if door_open else LOCKED)
    return out


def key_counterfactual(base: State, source: State) -> State | None:
    """The base state with the source's ``has_key`` (and, when that is False, the key on the source's key
    cell): what the agent should act as if it saw when has_key is patched in from the source. None when the
    two agree on has_key (nothing to change) or the source's key cell is not free in the base."""
    if base.carrying == source.carrying:
        return None
    if source.carrying:
        return with_key(base, True)
    try:
        return with_key(base, False, source.key)
    except CounterfactualError:
        return None


# ----------------------------------------------------------------------------------------------------
# Expert


_STEPS = tuple((int(dx), int(dy)) for dx, dy in DIRECTIONS)


def _passable(state: State) -> list[list[bool]]:
    """[x][y]: whether the agent can walk onto the cell (a nested list: the search reads it ~10⁵ times a pool)."""
    obj, door_state = state.grid[:, :, 0], state.grid[:, :, 2]
    free = np.isin(obj, (OBJECTS["empty"], OBJECTS["goal"], OBJECTS["floor"])) | ((obj == OBJECTS["door"]) & (door_state == OPEN))
    return free.tolist()


def expert_actions(state: State) -> frozenset[int]:
    """The optimal first actions (a set: ties are common) toward the current sub-goal — pick up the key, then
    open the door, then step onto the goal — by breadth-first search over (cell, direction). Empty if the
    sub-goal cannot be reached (e.g. a key dropped where no free cell faces it)."""
    door_state = int(state.grid[state.door][2])
    if door_state == OPEN:
        target, interact = state.goal, FORWARD
    elif door_state == CLOSED or state.carrying:  # a closed (unlocked) door opens without the key
        target, interact = state.door, TOGGLE
    else:
        target, interact = state.key, PICKUP
    start = (tuple(state.agent), state.direction)
    passable = _passable(state)

    def facing(node) -> tuple[int, int]:
        (x, y), d = node
        dx, dy = _STEPS[d]
        return x + dx, y + dy

    def moves(node):
        (x, y), d = node
        yield LEFT, ((x, y), (d - 1) % 4)
        yield RIGHT, ((x, y), (d + 1) % 4)
        fx, fy = facing(node)
        if (fx, fy) != target and passable[fx][fy]:
            yield FORWARD, ((fx, fy), d)

    # BFS from the start; the nodes facing the target are the sub-goal.
    parents: dict[Any, list] = {start: []}
    depth = {start: 0}
    queue = deque([start])
    found = None
    while queue:
        node = queue.popleft()
        if facing(node) == target:
            found = depth[node]
            break
        for action, nxt in moves(node):
            if nxt not in depth:
                depth[nxt] = depth[node] + 1
                parents[nxt] = [(node, action)]
                queue.append(nxt)
            elif depth[nxt] == depth[node] + 1:
                parents[nxt].append((node, action))
    if found is None:
        return frozenset()
    if found == 0:
        return frozenset({interact})
    # every first action on some shortest path to some facing node at depth `found`
    goals = [n for n, d in depth.items() if d == found and facing(n) == target]
    first: set[int] = set()
    frontier = set(goals)
    while frontier:
        step = set()
        for node in frontier:
            for parent, action in parents[node]:
                if parent == start:
                    first.add(action)
                else:
                    step.add(parent)
        frontier = step
    return frozenset(first)


# ----------------------------------------------------------------------------------------------------
# Batched env


def no_view() -> dict:
    return {}


class DoorKeyVecEnv:
    """``num_envs`` MiniGrid ``DoorKeyEnv``s of one size, stepped in turn; same-step autoreset (a new layout
    drawn from the env's Generator: reset seeds of ``split``, layouts of ``layouts``), mirl's vectorized-env
    protocol. Observations as ``observe``; reward MiniGrid's 1 − 0.9·t/T at the goal."""

    def __init__(self, num_envs: int, size: int = DEFAULT_SIZE, seed: int = 0, split: str | None = None,
                 layouts: str | None = None):
        from minigrid.envs import DoorKeyEnv

        for name, value in (("split", split), ("layouts", layouts)):
            if value not in SPLITS:
                raise ValueError(f"{name} must be one of {list(SPLITS)}, got {value!r}")
        self.split, self.layouts = split, layouts
        self.num_envs, self.size = num_envs, check_size(size)
        self.envs = [DoorKeyEnv(size=size) for _ in range(num_envs)]
        for env in self.envs:
            # MiniGrid renders its partial view after every step (three quarters of a step's time); this env
            # observes its own way (``observe``), so the view is never drawn
            env.gen_obs = no_view
        self.max_steps = self.envs[0].max_steps
        self._rng = np.random.default_rng(seed)
        import gymnasium as gym

        self.single_observation_space = gym.spaces.Box(0, 1, shape=(PLANES, size - 2, size - 2), dtype=np.uint8)
        self.single_action_space = gym.spaces.Discrete(NUM_ACTIONS)

    def _reset_env(self, i: int) -> None:
        low, high = {None: (0, 2**31), "train": (0, TEST_SEEDS_FROM), "test": (TEST_SEEDS_FROM, 2**31)}[self.split]
        reset_in(self.envs[i], lambda: int(self._rng.integers(low, high)), self.layouts)

    def states(self) -> list[State]:
        return [state_of(e) for e in self.envs]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        for i in range(self.num_envs):
            self._reset_env(i)
        return observe(self.states()), {}

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions, dtype=np.int64)
        if actions.shape != (self.num_envs,) or actions.min() < 0 or actions.max() >= NUM_ACTIONS:
            raise ValueError(f"actions must be {self.num_envs} integers in 0..{NUM_ACTIONS - 1} "
                             f"({', '.join(ACTION_NAMES)}), got shape {actions.shape}")
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        for i, (env, action) in enumerate(zip(self.envs, actions)):
            _, reward, term, trunc, _ = env.step(int(action))
            rewards[i], terminated[i], truncated[i] = reward, term, trunc
            if term or trunc:
                self._reset_env(i)
        return observe(self.states()), rewards, terminated, truncated, {}

    def labels(self) -> dict[str, np.ndarray]:
        """The exact variables of the states acted on (x first; key cell (−1, −1) while carried)."""
        states = self.states()
        key = np.array([s.key if s.key is not None else (-1, -1) for s in states])
        return {"has_key": np.array([s.carrying for s in states]), "door_open": np.array([s.door_open for s in states]),
                "key_x": key[:, 0], "key_y": key[:, 1], "door_y": np.array([s.door[1] for s in states]),
                "door_x": np.array([s.door[0] for s in states]), "agent_x": np.array([s.agent[0] for s in states]),
                "agent_y": np.array([s.agent[1] for s in states]), "agent_dir": np.array([s.direction for s in states])}

    def get_state(self) -> dict:
        return {"envs": copy.deepcopy(self.envs), "rng": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        self.envs = copy.deepcopy(state["envs"])
        self._rng.bit_generator.state = state["rng"]

    def close(self) -> None:
        pass
