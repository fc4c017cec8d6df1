"""Sokoban, batched in NumPy: levels, a reverse-play generator, the Boxoban text format, a solver, exact
plan labels, and the vectorized env (mirl's protocol: same-step autoreset, ``labels()``, ``get_state()``).

Boards are rectangles whose border is wall. A batch of boards shares one size and is held as flat arrays over
the squares (``walls``, ``targets``, ``boxes`` [N, H·W] bool, ``agent`` [N] square index), so a step of every
env is a handful of fancy-indexing operations (``transition``). Squares are ``row * W + col``; actions are
0 up, 1 down, 2 left, 3 right. Rewards as Guez et al.: −0.1 per step, +1 for a box pushed onto a target, −1 for
a box pushed off one, +10 when every box is on a target (the episode ends; it is cut at ``max_steps``).

The observation covers the interior only (the border is always wall; convolution padding stands in for it):
[N, 7, H-2, W-2] uint8, one-hot over wall / floor / target / box / box on target / agent / agent on target,
as the symbolic boards of Bush et al. 2025, so conv units stay aligned with squares.

Levels come from ``generate`` (reverse play from the solved state: solvable by construction) or from
``parse_levels`` (the Boxoban text format). A fixed tenth of all levels (by a hash of the level) is the "test"
split and never appears in a "train" pool.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from mirl.seeding import hash_split

from .sizes import BOXES, INTERIOR, SIZE

ACTION_NAMES = ("up", "down", "left", "right")
NEVER = 4  # plan labels: the square is never left again in this episode
DIRECTION_NAMES = (*ACTION_NAMES, "never")
PLANES = ("wall", "floor", "target", "box", "box_on_target", "agent", "agent_on_target")
STEP_REWARD, BOX_ON_REWARD, BOX_OFF_REWARD, SOLVED_REWARD = -0.1, 1.0, -1.0, 10.0
SPLITS = (None, "train", "test")
TEST_BUCKETS = 10
_SYMBOLS = {"#": "wall", " ": "floor", "-": "floor", "_": "floor", ".": "target", "$": "box", "*": "box_on_target",
            "@": "agent", "+": "agent_on_target"}


def offsets(width: int) -> np.ndarray:
    """Flat square offsets of the four moves on a board ``width`` squares wide."""
    return np.array([-width, width, -1, 1], dtype=np.int64)


def max_steps(height: int, width: int) -> int:
    """Episode limit: 4 × the interior area (144 steps on a 6×6 interior)."""
    return 4 * (height - 2) * (width - 2)


@dataclass
class Levels:
    """``N`` boards of one size: ``walls``, ``targets``, ``boxes`` [N, H·W] bool; ``agent`` [N] int64."""

    height: int
    width: int
    walls: np.ndarray
    targets: np.ndarray
    boxes: np.ndarray
    agent: np.ndarray

    def __len__(self) -> int:
        return len(self.agent)

    def __getitem__(self, index: Any) -> Levels:
        index = np.atleast_1d(np.arange(len(self))[index])
        return Levels(self.height, self.width, self.walls[index], self.targets[index], self.boxes[index],
                      self.agent[index])

    @property
    def num_boxes(self) -> np.ndarray:
        return self.boxes.sum(1)

    def keys(self) -> list[bytes]:
        """One byte string per level (walls, targets, boxes, agent): equal levels have equal keys."""
        packed = np.packbits(np.concatenate([self.walls, self.targets, self.boxes], axis=1), axis=1)
        return [row.tobytes() + int(a).to_bytes(2, "little") for row, a in zip(packed, self.agent)]

    def splits(self) -> np.ndarray:
        """[N] str: "test" for the fixed tenth of all levels (by a hash of the level), else "train"."""
        return np.array([hash_split(k, TEST_BUCKETS) for k in self.keys()])

    def text(self) -> str:
        """The levels in Boxoban's text format (``; i`` headers)."""
        return "\n".join(f"; {i}\n{render(self, i)}\n" for i in range(len(self)))

    @staticmethod
    def concat(parts: Iterable[Levels]) -> Levels:
        parts = list(parts)
        h, w = parts[0].height, parts[0].width
        if any((p.height, p.width) != (h, w) for p in parts):
            raise ValueError("levels of different board sizes cannot share a batch; pad them to one size first")
        return Levels(h, w, *(np.concatenate([getattr(p, f) for p in parts]) for f in ("walls", "targets", "boxes", "agent")))


def render(levels: Levels, i: int) -> str:
    """Level ``i`` as Boxoban text rows."""
    rows = []
    for r in range(levels.height):
        row = ""
        for c in range(levels.width):
            s = r * levels.width + c
            if levels.walls[i, s]:
                row += "#"
            elif s == levels.agent[i]:
                row += "+" if levels.targets[i, s] else "@"
            elif levels.boxes[i, s]:
                row += "*" if levels.targets[i, s] else "$"
            else:
                row += "." if levels.targets[i, s] else " "
        rows.append(row)
    return "\n".join(rows)


# ----------------------------------------------------------------------------------------------------
# Text format


class LevelFormatError(ValueError):
    """A malformed level text; the message names the line and column."""


def parse_levels(text: str, source: str = "<text>") -> Levels:
    """Levels in Boxoban's text format: blocks of rows of ``# . $ * @ +`` and spaces, separated by blank lines
    or ``; name`` lines. Rows shorter than the longest are padded with floor; every level must be enclosed by
    walls, have one agent, at least one box and as many targets as boxes. Errors name ``source``:line:column."""
    blocks: list[list[tuple[int, str]]] = [[]]
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.rstrip("\n\r")
        if stripped.startswith(";") or not stripped.strip():
            if blocks[-1]:
                blocks.append([])
            continue
        blocks[-1].append((number, stripped.rstrip()))
    blocks = [b for b in blocks if b]
    if not blocks:
        raise LevelFormatError(f"{source}: no levels found; expected rows of '#', ' ', '.', '$', '*', '@', '+'")
    parsed = [_parse_block(b, source) for b in blocks]
    height = max(p[0].shape[0] for p in parsed)
    width = max(p[0].shape[1] for p in parsed)
    if any(p[0].shape != (height, width) for p in parsed):
        first = next(i for i, p in enumerate(parsed) if p[0].shape != (height, width))
        raise LevelFormatError(
            f"{source}:{blocks[first][0][0]}:1: level {first} is {parsed[first][0].shape[0]}×"
            f"{parsed[first][0].shape[1]} but others are {height}×{width}; a batch needs one board size")
    walls, targets, boxes, agent = (np.stack([p[k] for p in parsed]) for k in range(4))
    return Levels(height, width, walls.reshape(len(parsed), -1), targets.reshape(len(parsed), -1),
                  boxes.reshape(len(parsed), -1), agent)


def _parse_block(block: list[tuple[int, str]], source: str):
    height, width = len(block), max(len(row) for _, row in block)
    walls = np.zeros((height, width), dtype=bool)
    targets = np.zeros_like(walls)
    boxes = np.zeros_like(walls)
    agents = []
    for r, (number, row) in enumerate(block):
        for c, ch in enumerate(row.ljust(width)):
            kind = _SYMBOLS.get(ch)
            if kind is None:
                raise LevelFormatError(f"{source}:{number}:{c + 1}: unknown symbol {ch!r}; use one of "
                                       f"'#', ' ', '.', '$', '*', '@', '+'")
            walls[r, c] = kind == "wall"
            targets[r, c] = kind in ("target", "box_on_target", "agent_on_target")
            boxes[r, c] = kind in ("box", "box_on_target")
            if kind.startswith("agent"):
                agents.append((number, c + 1, r * width + c))
    where = f"{source}:{block[0][0]}:1"
    if len(agents) != 1:
        at = ", ".join(f"{n}:{c}" for n, c, _ in agents) or "none"
        raise LevelFormatError(f"{where}: a level needs exactly one agent ('@' or '+'), found {len(agents)} ({at})")
    if not boxes.any():
        raise LevelFormatError(f"{where}: the level has no box; add at least one '$' and a target '.'")
    if boxes.sum() != targets.sum():
        raise LevelFormatError(f"{where}: {boxes.sum()} boxes but {targets.sum()} targets; they must match")
    border = np.ones_like(walls)
    border[1:-1, 1:-1] = False
    gaps = np.argwhere(border & ~walls)
    if len(gaps):
        r, c = gaps[0]
        raise LevelFormatError(f"{source}:{block[r][0]}:{c + 1}: the border must be wall ('#'); pad the level "
                               "with a ring of walls")
    return walls, targets, boxes, agents[0][2]


# ----------------------------------------------------------------------------------------------------
# Dynamics


def transition(walls: np.ndarray, boxes: np.ndarray, agent: np.ndarray, actions: np.ndarray, width: int):
    """One step of every board: returns (new agent [N], moved [N] bool, pushed [N] bool, box_from [N], box_to [N]).

    ``boxes`` is not changed; apply a push with ``boxes[pushed, box_from] = False; boxes[pushed, box_to] = True``.
    The border is wall, so a square next to a move is always on the board."""
    rows = np.arange(len(agent))
    step = offsets(width)[actions]
    ahead = agent + step
    beyond = np.clip(ahead + step, 0, walls.shape[1] - 1)  # only read where ahead is open (not border)
    box_ahead = boxes[rows, ahead]
    blocked = walls[rows, ahead] | (box_ahead & (walls[rows, beyond] | boxes[rows, beyond]))
    moved = ~blocked
    pushed = moved & box_ahead
    return np.where(moved, ahead, agent), moved, pushed, ahead, beyond


def observe(levels_or_env: Any) -> np.ndarray:
    """[N, 7, H-2, W-2] uint8 one-hot planes (``PLANES``) over the interior."""
    x = levels_or_env
    n, h, w = len(x.agent), x.height, x.width
    category = np.where(x.boxes, 3, 1) + x.targets  # floor 1 / target 2 / box 3 / box on target 4
    category[np.arange(n), x.agent] = 5 + x.targets[np.arange(n), x.agent]
    category[x.walls] = 0
    interior = category.reshape(n, h, w)[:, 1:-1, 1:-1]
    return (interior[:, None] == np.arange(7, dtype=category.dtype)[None, :, None, None]).astype(np.uint8)


def interior_squares(height: int, width: int) -> np.ndarray:
    """[(H-2)·(W-2)] flat board indices of the interior squares, row-major (the observation's order)."""
    r, c = np.meshgrid(np.arange(1, height - 1), np.arange(1, width - 1), indexing="ij")
    return (r * width + c).ravel()


# ----------------------------------------------------------------------------------------------------
# Generator


def generate(num_levels: int, seed: int, interior: int = 6, boxes: int = 2, split: str | None = None,
             walk_factor: int = 8) -> Levels:
    """``num_levels`` distinct solvable levels on an ``interior``×``interior`` board, by reverse play.

    Per candidate: random interior walls (0 to ⌊area/6⌋), boxes on their targets, the agent on a random free
    square; then ``walk_factor`` × area random moves in which a box behind the agent is always pulled. Of the
    states visited, the one with the largest total box-to-nearest-target distance and no box on a target is
    kept (plain "final state" selection gave levels a random policy solved 3× as often). Every move is the
    reverse of a legal forward move, so every kept level is solvable. Vectorized over a batch of candidates;
    duplicates and levels of the other split are dropped, and batches are drawn until ``num_levels`` remain.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    if interior < 3 or boxes < 1 or boxes > interior * interior // 4:
        raise ValueError(f"need interior ≥ 3 and 1 ≤ boxes ≤ interior²/4, got interior {interior}, boxes {boxes}")
    rng = np.random.default_rng(seed)
    parts, seen = [], set()
    have = 0
    batch = max(256, min(8192, int(num_levels * (1.3 if split != "test" else 11))))
    while have < num_levels:
        levels = _reverse_play(rng, batch, interior, boxes, walk_factor)
        keep = []
        for i, (key, s) in enumerate(zip(levels.keys(), levels.splits())):
            if key not in seen and (split is None or s == split):
                seen.add(key)
                keep.append(i)
        keep = keep[: num_levels - have]
        parts.append(levels[np.array(keep, dtype=np.int64)])
        have += len(keep)
    return Levels.concat(parts)


def _reverse_play(rng: np.random.Generator, n: int, interior: int, num_boxes: int, walk_factor: int) -> Levels:
    h = w = interior + 2
    squares = interior_squares(h, w)
    area = len(squares)
    walls = np.ones((n, h * w), dtype=bool)
    walls[:, squares] = False
    # random interior walls: a random count per level, at random interior squares
    wall_count = rng.integers(0, area // 6 + 1, size=n)
    order = np.argsort(rng.random((n, area)), axis=1)  # a random permutation of the interior per level
    rows = np.arange(n)
    for k in range(area // 6):
        add = k < wall_count
        walls[rows[add], squares[order[add, k]]] = True
    # boxes (on targets) and agent on distinct free squares, taken from the rest of the permutation
    free_rank = np.argsort(rng.random((n, area)) + walls[:, squares] * 2.0, axis=1)  # free squares first
    picks = squares[free_rank[:, : num_boxes + 1]]
    box_pos = picks[:, :num_boxes].copy()  # [n, k]
    targets = np.zeros((n, h * w), dtype=bool)
    targets[rows[:, None], box_pos] = True
    agent = picks[:, num_boxes].copy()
    boxes = targets.copy()
    # target coordinates for the displacement score
    t_rc = np.stack([box_pos // w, box_pos % w], axis=-1)  # [n, k, 2]
    best_score = np.full(n, -1, dtype=np.int64)
    best_boxes = boxes.copy()
    best_agent = agent.copy()
    step = offsets(w)
    for _ in range(walk_factor * area):
        a = rng.integers(0, 4, size=n)
        d = step[a]
        ahead = agent + d
        ok = ~walls[rows, ahead] & ~boxes[rows, ahead]
        behind = agent - d
        pull = ok & boxes[rows, behind]
        # pull: the box behind the agent moves to the agent's old square
        which = (box_pos == behind[:, None]) & pull[:, None]
        box_pos = np.where(which, agent[:, None], box_pos)
        boxes[rows[pull], behind[pull]] = False
        boxes[rows[pull], agent[pull]] = True
        agent = np.where(ok, ahead, agent)
        b_rc = np.stack([box_pos // w, box_pos % w], axis=-1)  # [n, k, 2]
        dist = np.abs(b_rc[:, :, None, :] - t_rc[:, None, :, :]).sum(-1).min(-1).sum(-1)  # Σ box → nearest target
        none_on = ~(boxes & targets).any(1)
        better = none_on & (dist > best_score)
        best_score = np.where(better, dist, best_score)
        best_boxes[better] = boxes[better]
        best_agent = np.where(better, agent, best_agent)
    good = best_score > 0
    return Levels(h, w, walls[good], targets[good], best_boxes[good], best_agent[good])


# ----------------------------------------------------------------------------------------------------
# Solver


class SolverLimit(RuntimeError):
    """The search space of a level exceeded the solver's state budget."""


def solve(levels: Levels, i: int = 0, max_states: int = 2_000_000) -> list[int] | None:
    """A shortest solution (list of actions) of level ``i`` by breadth-first search over (agent, boxes), or
    None if it has none. Squares from which a box can never reach a target (dead corners) are pruned.
    Meant for small boards (6×6 with 2 boxes: ~10⁴ states); raises ``SolverLimit`` past ``max_states``."""
    w = levels.width
    # Python lists and flat tuples (agent, *boxes), not arrays and sets: the same search in the same order (so
    # the same solution), ~1.6× faster; plan-steer-v1's level search solves thousands of candidates.
    walls = levels.walls[i].tolist()
    no_box = (levels.walls[i] | _dead_squares(levels.walls[i], levels.targets[i], w)).tolist()
    targets = frozenset(np.flatnonzero(levels.targets[i]).tolist())
    start = (int(levels.agent[i]), *sorted(np.flatnonzero(levels.boxes[i]).tolist()))
    if targets.issuperset(start[1:]):
        return []
    steps = list(enumerate(offsets(w).tolist()))
    parent: dict[tuple, tuple | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        agent, boxes = state[0], state[1:]
        for action, d in steps:
            ahead = agent + d
            if walls[ahead]:
                continue
            if ahead in boxes:
                beyond = ahead + d
                if no_box[beyond] or beyond in boxes:
                    continue
                pushed = sorted([beyond if b == ahead else b for b in boxes])
                nxt = (ahead, *pushed)
            else:
                pushed = None
                nxt = (ahead, *boxes)
            if nxt in parent:
                continue
            parent[nxt] = (state, action)
            if pushed is not None and targets.issuperset(pushed):  # only a push can finish a level
                actions = []
                node = nxt
                while parent[node] is not None:
                    node, a = parent[node]
                    actions.append(a)
                return actions[::-1]
            if len(parent) > max_states:
                raise SolverLimit(f"level {i} has over {max_states:,} reachable states; the solver is for small boards")
            queue.append(nxt)
    return None


def _dead_squares(walls: np.ndarray, targets: np.ndarray, width: int) -> np.ndarray:
    """[H·W] bool: squares from which a box cannot be pushed to any target (reverse reachability by pulls)."""
    alive = targets.copy()
    frontier = list(np.flatnonzero(targets))
    step = offsets(width)
    while frontier:
        s = frontier.pop()
        for d in step:
            # a box at s - d... reversed: pulling a box from s to s + d needs s + d and s + 2d open
            to, stand = s + d, s + 2 * d
            if 0 <= stand < len(walls) and not walls[to] and not walls[stand] and not alive[to]:
                alive[to] = True
                frontier.append(to)
    return ~alive & ~walls


def check_solvable(levels: Levels, max_states: int = 2_000_000) -> None:
    """Raise a one-line ``ValueError`` naming the first level with no solution."""
    for i in range(len(levels)):
        if solve(levels, i, max_states) is None:
            raise ValueError(f"level {i} has no solution (a box can never reach a target); fix or drop it")


# ----------------------------------------------------------------------------------------------------
# Plan labels


def future_directions(agent: np.ndarray, actions: np.ndarray, boxes: np.ndarray, walls: np.ndarray,
                      episode_ends: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Bush et al.'s plan concepts from one batch of trajectories: for every step t and board square, the
    direction in which the agent next leaves that square (C_A), and the direction in which the next box to
    leave it is pushed (C_B), at t or later in the same episode; ``NEVER`` (4) if that does not happen.

    Inputs are per step ``[T, B, ...]``: ``agent`` square, ``actions``, ``boxes`` [T, B, H·W], ``walls``
    [T, B, H·W], ``episode_ends`` (the episode ended at this step). Returns two [T, B, H·W] int8 maps. Steps
    after the last end of an env whose episode is cut off by the end of the data get the labels of what was
    seen (callers drop those episodes)."""
    T, B = actions.shape
    agent_dir = np.full((T, B, walls.shape[-1]), NEVER, dtype=np.int8)
    box_dir = np.full_like(agent_dir, NEVER)
    rows = np.arange(B)
    a_now = np.full((B, walls.shape[-1]), NEVER, dtype=np.int8)
    b_now = np.full_like(a_now, NEVER)
    for t in range(T - 1, -1, -1):
        a_now[episode_ends[t]] = NEVER  # a new episode starts after this step: nothing of it is the future
        b_now[episode_ends[t]] = NEVER
        _, moved, pushed, ahead, _ = transition(walls[t], boxes[t], agent[t], actions[t], width)
        a_now[rows[moved], agent[t][moved]] = actions[t][moved]
        b_now[rows[pushed], ahead[pushed]] = actions[t][pushed]
        agent_dir[t], box_dir[t] = a_now, b_now
    return agent_dir, box_dir


# ----------------------------------------------------------------------------------------------------
# Vectorized env


class SokobanVecEnv:
    """``num_envs`` boards drawing levels from a pool (``Levels``), same-step autoreset.

    ``order="random"``: every episode draws a pool level with the env's Generator (seeded at ``reset``);
    ``"sequential"``: episodes take the pool's levels in order (env i's first episode is level i, then the next
    unused one), for scoring a fixed list. ``mix``: a second pool (e.g. 2-box levels) drawn with a probability
    that rises linearly from ``mix_start`` to 1 over the first ``mix_episodes`` episodes: a curriculum.
    A step's info holds, per env, the squares it stood on before its episode's first push (``visited_before_push``
    [N, H·W], the start included) and the square it pushed from then (``first_push_from`` [N], -1 before it).
    """

    def __init__(self, num_envs: int, levels: Levels, seed: int = 0, order: str = "random",
                 mix: Levels | None = None, mix_start: float = 0.0, mix_episodes: int = 1):
        if order not in ("random", "sequential"):
            raise ValueError(f"order must be 'random' or 'sequential', got {order!r}")
        if mix is not None and (mix.height, mix.width) != (levels.height, levels.width):
            raise ValueError("the mixed-in pool must have the same board size as the main pool")
        self.num_envs, self.pool, self.mix, self.order = num_envs, levels, mix, order
        self.mix_start, self.mix_episodes = mix_start, max(1, mix_episodes)
        self.height, self.width = levels.height, levels.width
        self.max_steps = max_steps(self.height, self.width)
        hw = self.height * self.width
        self.walls = np.ones((num_envs, hw), dtype=bool)
        self.targets = np.zeros((num_envs, hw), dtype=bool)
        self.boxes = np.zeros((num_envs, hw), dtype=bool)
        self.agent = np.zeros(num_envs, dtype=np.int64)
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.level_index = np.zeros(num_envs, dtype=np.int64)  # pool index (mixed-in pool: -1 - index)
        # what the first push of each episode reveals of a plan (where the agent went before committing a box)
        self.visited_before_push = np.zeros((num_envs, hw), dtype=bool)
        self.first_push_from = np.full(num_envs, -1, dtype=np.int64)
        self.episodes_started = 0
        self._rng = np.random.default_rng(seed)
        self._rows = np.arange(num_envs)

    # gymnasium only for the space objects, imported when asked: training needs just NumPy
    @property
    def single_observation_space(self):
        import gymnasium as gym

        return gym.spaces.Box(0, 1, shape=(7, self.height - 2, self.width - 2), dtype=np.uint8)

    @property
    def single_action_space(self):
        import gymnasium as gym

        return gym.spaces.Discrete(4)

    def _new_episodes(self, envs: np.ndarray) -> None:
        k = len(envs)
        if self.order == "sequential":  # wraps around; scorers ask for at most len(pool) episodes
            index = (self.episodes_started + np.arange(k)) % len(self.pool)
        else:
            index = self._rng.integers(0, len(self.pool), size=k)
        self.level_index[envs] = index
        self.walls[envs], self.targets[envs] = self.pool.walls[index], self.pool.targets[index]
        self.boxes[envs], self.agent[envs] = self.pool.boxes[index], self.pool.agent[index]
        if self.mix is not None:
            p = self.mix_start + (1 - self.mix_start) * min(1.0, self.episodes_started / self.mix_episodes)
            take = self._rng.random(k) < p
            if take.any():
                j = self._rng.integers(0, len(self.mix), size=int(take.sum()))
                e = envs[take]
                self.walls[e], self.targets[e] = self.mix.walls[j], self.mix.targets[j]
                self.boxes[e], self.agent[e] = self.mix.boxes[j], self.mix.agent[j]
                self.level_index[e] = -1 - j
        self.steps[envs] = 0
        self.visited_before_push[envs] = False
        self.first_push_from[envs] = -1
        self.episodes_started += k

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.episodes_started = 0
        self._new_episodes(self._rows)
        return observe(self), {}

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions, dtype=np.int64)
        if actions.shape != (self.num_envs,) or actions.min() < 0 or actions.max() > 3:
            raise ValueError(f"actions must be {self.num_envs} integers in 0..3 (up, down, left, right), "
                             f"got shape {actions.shape}")
        rows = self._rows
        on_before = (self.boxes & self.targets).sum(1)
        before_push = self.first_push_from < 0
        self.visited_before_push[rows[before_push], self.agent[before_push]] = True
        start = self.agent
        self.agent, _, pushed, src, dst = transition(self.walls, self.boxes, self.agent, actions, self.width)
        first = pushed & before_push
        self.first_push_from[first] = start[first]
        info = {"visited_before_push": self.visited_before_push.copy(), "first_push_from": self.first_push_from.copy()}
        if pushed.any():
            self.boxes[rows[pushed], src[pushed]] = False
            self.boxes[rows[pushed], dst[pushed]] = True
        on_after = (self.boxes & self.targets).sum(1)
        self.steps += 1
        terminated = on_after == self.targets.sum(1)
        truncated = ~terminated & (self.steps >= self.max_steps)
        rewards = (STEP_REWARD + (on_after - on_before) * BOX_ON_REWARD + terminated * SOLVED_REWARD).astype(np.float32)
        done = terminated | truncated
        if done.any():
            self._new_episodes(np.flatnonzero(done))
        return observe(self), rewards, terminated, truncated, info

    def labels(self) -> dict[str, np.ndarray]:
        """The state acted on: ``agent_square`` [B] (board index), ``boxes`` / ``walls`` [B, H·W] bool,
        ``level`` [B] (pool index), ``boxes_left`` [B] (boxes off target)."""
        return {"agent_square": self.agent.copy(), "boxes": self.boxes.copy(), "walls": self.walls.copy(),
                "level": self.level_index.copy(), "boxes_left": (self.boxes & ~self.targets).sum(1)}

    _STATE = ("walls", "targets", "boxes", "agent", "steps", "level_index", "visited_before_push", "first_push_from")

    def get_state(self) -> dict:
        return {k: getattr(self, k).copy() for k in self._STATE} | {
            "episodes_started": self.episodes_started, "rng": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        for k in self._STATE:
            setattr(self, k, state[k].copy())
        self.episodes_started = state["episodes_started"]
        self._rng.bit_generator.state = state["rng"]

    def close(self) -> None:
        pass


def plan_labels(rollouts: Any, width: int) -> dict[str, np.ndarray]:
    """A ``future_labels`` callback for ``mirl.rollouts.collect``: ``agent_future_direction`` and
    ``box_future_direction`` [T, B, (H-2)·(W-2)] int8 over the interior squares (see ``future_directions``)."""
    labels = rollouts.labels
    walls = np.asarray(labels["walls"])
    height = walls.shape[-1] // width
    agent_dir, box_dir = future_directions(np.asarray(labels["agent_square"]), np.asarray(rollouts.actions),
                                           np.asarray(labels["boxes"]), walls, np.asarray(rollouts.dones), width)
    inner = interior_squares(height, width)
    return {"agent_future_direction": agent_dir[..., inner], "box_future_direction": box_dir[..., inner]}


# The fixed level pools the agents train on and their cards are first measured on: generated from these seeds and
# cached on disk, so every machine sees the same levels. The test pools are in the held-out tenth (``Levels.splits``).
TRAIN_POOL = 200_000  # 2-box training levels (the 1-box pool is half that: its level space is small)
TEST_POOL = 2_000
POOL_SEEDS = {("train", 1): 11, ("train", 2): 12, ("test", 1): 21, ("test", 2): 22}


def level_pool(split: str, boxes: int = BOXES, size: int | None = None) -> Levels:
    """The fixed pool of 6×6-interior levels with ``boxes`` boxes for ``split`` ("train" or "test"), cached on disk."""
    from mirl.paths import mirl_home

    size = size or (TRAIN_POOL // (2 if boxes == 1 else 1) if split == "train" else TEST_POOL)
    seed = POOL_SEEDS[(split, boxes)]
    path = mirl_home() / "cache" / "sokoban-levels" / f"{split}-i{INTERIOR}-b{boxes}-n{size}-s{seed}.npz"
    if path.exists():
        data = np.load(path)
        return Levels(SIZE, SIZE, data["walls"], data["targets"], data["boxes"], data["agent"])
    levels = generate(size, seed, INTERIOR, boxes, split=split)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, walls=levels.walls, targets=levels.targets, boxes=levels.boxes, agent=levels.agent)
    tmp.replace(path)
    return levels
