"""procgen CoinRun behind mirl's vectorized-env protocol (gymnasium vector API, same-step autoreset).

procgen's gym3 env underneath already autoresets within ``act``: after a step, ``observe()`` returns the
first frame of the next episode with ``first=True`` for envs whose episode just ended, which is exactly
mirl's same-step convention. Observations are channel-first uint8 frames [B, 3, 64, 64].

Every option that changes what the agent sees or which levels it plays is fixed here and recorded on the
agent card: easy mode, no backgrounds, restricted themes, a fixed level range. The state (for exact resume of
training) is procgen's own serialized per-env state plus our episode-step counters; serialized states are
checked in Python before ``set_state``, since a malformed one makes procgen exit the whole process.

Moved-coin episodes are opt-in (``coin_placer``, ``end_at_original_column``, ``track_outcomes``); with none of
them the env is the stock adapter, unchanged. How the coin is moved is in ``state.py`` and
``shared/notes/coinrun-state.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from .state import (  # noqa: F401  (GAME, STATE_END_MARKER and check_state are also this module's API)
    ENEMY, ENTITY_FIELDS, GAME, LAVA, SAW, SPACE, STATE_END_MARKER, VIEW_CELLS, CoinRunState, agent_position,
    check_state, end_column, move_coin, parse,
)

TIMEOUT = 1000  # procgen's CoinRun episode limit (steps)

# Training and held-out level ranges never overlap.
TRAIN_LEVELS = (0, 100_000)  # start_level, num_levels
HELD_OUT_START = 10_000_000

CoinPlacer = Callable[[CoinRunState, np.random.Generator], "tuple[int, int] | None"]
"""Picks the coin's cell for a new episode from its parsed first state; None leaves the coin where it is."""

OUTCOMES = ("coin", "end", "saw", "enemy", "lava", "timeout")
"""How a tracked episode ended (``info["outcome"]``); "" for envs whose episode goes on, and "unknown" for a
death no single hazard explains (not seen in testing)."""
# A tracked env's state is read at least this often (steps), bounding the replay that classifies a death:
# each read costs ~0.08 ms, each replayed step ~0.04 ms, so 64 balances the two at a death every ~500 steps.
SNAPSHOT_EVERY = 64
MAX_SPEED = 0.5  # CoinRun's maxspeed: the agent's x moves at most this far per step (measured ≤ 0.36)
_MAX_STATE_SIZE = 2**20  # procgen.env.MAX_STATE_SIZE


class CoinRunVecEnv:
    """``num_envs`` CoinRun games on levels ``[start_level, start_level + num_levels)``.

    Opt-in moved-coin episodes (all off by default, and then nothing below happens):

    - ``coin_placer``: at every episode start the env's state is read, the coin moved to the cell the placer
      picks (e.g. ``state.random_standing_cell``), the edited state validated and written back, and the
      re-rendered first frame returned. Reward and ``first`` come from before the edit (pitfall 2).
    - ``end_at_original_column``: an episode whose agent reaches the level's original coin column (the end
      of the level) is ended at the next step (action −1 replaces the agent's action), outcome "end".
    - ``track_outcomes`` (default: on with either of the above; ``False`` keeps only the coin edits):
      ``info["outcome"]`` names how each episode that ended at a step ended (``OUTCOMES``), and
      ``info["saws"]`` the buzzsaws of the level each env played (read at its episode's start).
    - ``max_episode_steps`` (with ``track_outcomes``): episodes are cut at this many steps, outcome "timeout",
      instead of procgen's 1,000 (scorers use it so that a crippled agent cannot stall a run).

    With any of them, ``labels()`` adds exact agent and coin positions read from the states (one state read per
    env and call, ~0.08 ms each), and ``get_state()`` adds the placer's generator and pending early ends.

    Deaths are classified exactly: the env keeps a recent state of each env (read every ``SNAPSHOT_EVERY``
    steps at most) and the actions since, replays them in a private one-env game to recover the state just
    before the death, then repeats the fatal action with only lava, only saws or only enemies left in the
    level; the hazard that still kills is the cause. procgen is deterministic given a state (its generator is
    part of it), so the replay is exact (checked against live states in the tests). When two hazards would
    each kill on their own in that step (a saw and an enemy touched at once: 5 of 136 hard-mode deaths in
    testing), the first of lava, saw, enemy is reported. Each death costs ~1-3 ms to classify.
    """

    def __init__(
        self,
        num_envs: int,
        seed: int = 0,
        start_level: int = TRAIN_LEVELS[0],
        num_levels: int = TRAIN_LEVELS[1],
        distribution_mode: str = "easy",
        use_backgrounds: bool = False,
        restrict_themes: bool = True,
        *,
        coin_placer: CoinPlacer | None = None,
        end_at_original_column: bool = False,
        track_outcomes: bool | None = None,
        max_episode_steps: int = TIMEOUT,
    ):
        self.num_envs = num_envs
        self.seed = seed
        self.options = dict(
            start_level=start_level, num_levels=num_levels, distribution_mode=distribution_mode,
            use_backgrounds=use_backgrounds, restrict_themes=restrict_themes,
        )
        self.single_observation_space = gym.spaces.Box(0, 255, shape=(3, 64, 64), dtype=np.uint8)
        self.single_action_space = gym.spaces.Discrete(15)
        self._env = None
        self.episode_steps = np.zeros(num_envs, dtype=np.int64)
        self.coin_placer = coin_placer
        self.end_at_original_column = end_at_original_column
        if track_outcomes is False and end_at_original_column:
            raise ValueError("end_at_original_column needs track_outcomes (it watches the agent's position)")
        self.track_outcomes = bool(
            track_outcomes if track_outcomes is not None else coin_placer is not None or end_at_original_column
        )
        if not 1 <= max_episode_steps <= TIMEOUT:
            raise ValueError(f"max_episode_steps must be between 1 and {TIMEOUT} (procgen's own limit), got {max_episode_steps}")
        if max_episode_steps < TIMEOUT and not self.track_outcomes:
            raise ValueError("max_episode_steps below procgen's limit needs track_outcomes (it ends episodes itself)")
        self.max_episode_steps = max_episode_steps
        self.tracking = coin_placer is not None or self.track_outcomes  # state-read labels, coin bookkeeping
        self._probe = None

    def _make(self, seed: int) -> None:
        from procgen import ProcgenGym3Env

        self._env = ProcgenGym3Env(num=self.num_envs, env_name="coinrun", rand_seed=int(seed) % 2**31, **self.options)
        if self.tracking:
            with _gc_paused():
                self._buf = self._env._ffi.new(f"char[{_MAX_STATE_SIZE}]")
                self._env._c_lib.get_state, self._env._c_lib.set_state  # noqa: B018  (see _gc_paused)

    def _obs(self) -> np.ndarray:
        _, obs, _ = self._env.observe()
        return np.ascontiguousarray(obs["rgb"].transpose(0, 3, 1, 2))

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        self._make(self.seed if seed is None else seed)
        self.episode_steps[:] = 0
        if self.tracking:
            self._start_tracking(np.random.default_rng(self.seed if seed is None else seed))
            for i in range(self.num_envs):
                self._episode_start(i)
        return self._obs(), {}

    def step(self, actions: np.ndarray):
        if self.tracking:
            return self._tracked_step(actions)
        self._env.act(np.asarray(actions, dtype=np.int32))
        reward, obs, first = self._env.observe()
        info = self._env.get_info()
        self.episode_steps += 1
        done = np.asarray(first, dtype=bool)
        truncated = done & (self.episode_steps >= TIMEOUT)
        terminated = done & ~truncated
        completed = np.array([bool(i.get("prev_level_complete", 0)) for i in info]) & done
        self.episode_steps[done] = 0
        frames = np.ascontiguousarray(obs["rgb"].transpose(0, 3, 1, 2))
        return frames, np.asarray(reward, dtype=np.float32), terminated, truncated, {"level_complete": completed}

    def labels(self) -> dict[str, np.ndarray]:
        """``level_seed``; when tracking, also exact positions read from the state (world units, 1 = one cell,
        y up): ``agent_x/agent_y`` (centre), ``coin_x/coin_y`` (the coin's cell, where it was moved),
        ``original_coin_x`` (the level's end column), ``coin_dx/coin_dy`` (coin cell centre − agent centre)
        ``coin_visible`` (that centre lies inside the agent's 13×13-cell view) and ``saws`` (buzzsaws in the
        level at the episode's start)."""
        info = self._env.get_info()
        labels = {"level_seed": np.array([i["level_seed"] for i in info], dtype=np.int64)}
        if not self.tracking:
            return labels
        if self._labels is None:
            for i in np.flatnonzero(self._age > 0):
                self._refresh(i)
            agent = np.array([agent_position(s) for s in self._snapshot], dtype=np.float32).reshape(-1, 2)
            dx = (self._coin[:, 0] + 0.5 - agent[:, 0]).astype(np.float32)
            dy = (self._coin[:, 1] + 0.5 - agent[:, 1]).astype(np.float32)
            half = VIEW_CELLS / 2
            self._labels = {
                "agent_x": agent[:, 0], "agent_y": agent[:, 1], "coin_x": self._coin[:, 0].copy(),
                "coin_y": self._coin[:, 1].copy(), "original_coin_x": self._original_x.copy(), "coin_dx": dx,
                "coin_dy": dy, "coin_visible": (np.abs(dx) < half) & (np.abs(dy) < half), "saws": self._saws.copy(),
            }
        return {**labels, **{k: v.copy() for k, v in self._labels.items()}}

    def get_state(self) -> dict[str, Any]:
        state = {"procgen": self._env.callmethod("get_state"), "episode_steps": self.episode_steps.copy()}
        if self.tracking:
            # coin cell and original column are read back from the procgen states themselves
            state["tracking"] = {"end_pending": self._end_pending.copy(), "placer_rng": self._rng.bit_generator.state}
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        if self._env is None:
            self._make(self.seed)
        for raw in state["procgen"]:
            check_state(raw)
        if self.tracking:
            parsed = [parse(raw) for raw in state["procgen"]]  # everything validated before procgen sees any
        self._env.callmethod("set_state", list(state["procgen"]))
        self.episode_steps = state["episode_steps"].copy()
        if self.tracking:
            self._start_tracking(np.random.default_rng(self.seed))
            tracking = state.get("tracking", {})
            if "placer_rng" in tracking:
                self._rng.bit_generator.state = tracking["placer_rng"]
            if "end_pending" in tracking:
                self._end_pending[:] = tracking["end_pending"]
            for i, (raw, p) in enumerate(zip(state["procgen"], parsed)):
                coins = p.coin_cells
                if len(coins) != 1:
                    raise ValueError(f"state of env {i} has {len(coins)} coin cells, expected 1")
                self._coin[i] = coins[0]
                self._original_x[i] = end_column(p.grid)
                self._saws[i] = count_saws(p)
                self._snapshot[i] = bytes(raw)
                self._due[i] = self._next_due(i, p.agent_x)

    @property
    def coin_cells(self) -> np.ndarray:
        """[B, 2] (x, y) of each env's coin this episode (moved or not), without reading any state."""
        return self._coin.copy()

    @property
    def original_coin_columns(self) -> np.ndarray:
        """[B] each env's original coin column (the level's end) this episode, without reading any state."""
        return self._original_x.copy()

    def close(self) -> None:
        self._env = None
        self._probe = None

    # ---- moved-coin episodes and outcomes (only when tracking) -------------------------------------------

    def _start_tracking(self, rng: np.random.Generator) -> None:
        n = self.num_envs
        self._rng = rng
        self._original_x = np.zeros(n, dtype=np.int64)
        self._coin = np.zeros((n, 2), dtype=np.int64)
        self._saws = np.zeros(n, dtype=np.int64)
        self._end_pending = np.zeros(n, dtype=bool)
        self._snapshot: list[bytes] = [b""] * n
        self._age = np.zeros(n, dtype=np.int64)  # acts since the snapshot
        self._due = np.full(n, SNAPSHOT_EVERY, dtype=np.int64)  # refresh the snapshot once age reaches this
        self._history = np.zeros((SNAPSHOT_EVERY + 1, n), dtype=np.int32)  # ring of the last actions
        self._t = 0
        self._labels = None

    def _read(self, i: int) -> bytes:
        n = self._env.call_c_func("get_state", i, self._buf, _MAX_STATE_SIZE)
        return bytes(self._env._ffi.buffer(self._buf, n))

    def _next_due(self, i: int, x: float) -> int:
        if not self.track_outcomes:
            return 2**62  # nothing to watch: states are read at episode starts and by labels() only
        if not self.end_at_original_column:
            return SNAPSHOT_EVERY
        # the agent cannot reach the end column sooner than this, so nothing is missed by looking then
        return int(min(SNAPSHOT_EVERY, max(1, math.ceil((self._original_x[i] - x) / MAX_SPEED))))

    def _episode_start(self, i: int) -> bool:
        """Record env i's new episode and move its coin; True if its state was rewritten."""
        raw = self._read(i)
        p = parse(raw)
        coins = p.coin_cells
        if len(coins) != 1:
            raise ValueError(f"env {i} started an episode with {len(coins)} coin cells, expected 1")
        coin = coins[0]
        self._original_x[i] = coin[0]
        self._saws[i] = count_saws(p)
        edited = False
        if self.coin_placer is not None:
            target = self.coin_placer(p, self._rng)
            if target is not None and tuple(target) != coin:
                raw = move_coin(raw, *target, parsed=p)
                check_state(raw)
                self._env.call_c_func("set_state", i, raw, len(raw))
                coin, edited = (int(target[0]), int(target[1])), True
        self._coin[i] = coin
        self._snapshot[i] = raw
        self._age[i] = 0
        self._due[i] = self._next_due(i, p.agent_x)
        return edited

    def _refresh(self, i: int) -> None:
        raw = self._read(i)
        x, _ = agent_position(raw)
        self._snapshot[i] = raw
        self._age[i] = 0
        self._due[i] = self._next_due(i, x)
        if self.end_at_original_column and x >= self._original_x[i]:
            self._end_pending[i] = True

    def _tracked_step(self, actions: np.ndarray):
        acts = np.array(actions, dtype=np.int32)
        # at procgen's own limit procgen ends the episode itself (after a real last step), as in stock play
        cut = (self.episode_steps >= self.max_episode_steps - 1) & (self.max_episode_steps < TIMEOUT)
        forced = self._end_pending | cut
        acts[forced] = -1  # procgen resets an env given action −1 (reward 0, first=True)
        self._env.act(acts)
        reward, obs, first = self._env.observe()  # reward and first from before any edit (pitfall 2)
        infos = self._env.get_info()
        self._history[self._t % len(self._history)] = acts
        self._t += 1
        self._age += 1
        self._labels = None
        self.episode_steps += 1
        done = np.asarray(first, dtype=bool)
        truncated = done & ((self.episode_steps >= self.max_episode_steps) | forced)
        terminated = done & ~truncated
        completed = np.array([bool(i.get("prev_level_complete", 0)) for i in infos]) & done
        info = {"level_complete": completed}
        if self.track_outcomes:
            # the saws of the level each env just played, so outcome scorers need no per-step labels()
            info["saws"] = self._saws.copy()
            outcome = info["outcome"] = np.full(self.num_envs, "", dtype="<U7")
            for i in np.flatnonzero(done):
                if completed[i]:
                    outcome[i] = "coin"
                elif self._end_pending[i]:
                    outcome[i] = "end"
                elif self.episode_steps[i] >= self.max_episode_steps:
                    outcome[i] = "timeout"
                else:
                    outcome[i] = self._death_cause(i)
        self.episode_steps[done] = 0
        self._end_pending[done] = False
        edited = False
        for i in np.flatnonzero(done):
            edited |= self._episode_start(i)
        for i in np.flatnonzero(~done & (self._age >= self._due)):
            self._refresh(i)
        if edited:
            _, obs, _ = self._env.observe()  # the re-rendered first frames showing the moved coins
        frames = np.ascontiguousarray(obs["rgb"].transpose(0, 3, 1, 2))
        return frames, np.asarray(reward, dtype=np.float32), terminated, truncated, info

    # ---- death causes ------------------------------------------------------------------------------------

    def _probe_env(self):
        if self._probe is None:
            from procgen import ProcgenGym3Env

            with _gc_paused():  # built mid-step, and used at once: every first use of a C function locks
                probe = ProcgenGym3Env(num=1, env_name="coinrun", rand_seed=0, **self.options)
                self._probe_buf = probe._ffi.new(f"char[{_MAX_STATE_SIZE}]")
                probe.act(np.array([4], dtype=np.int32))
                probe.observe()
                probe.call_c_func("set_state", 0, *self._read_probe(probe))
            self._probe = probe
        return self._probe

    def _read_probe(self, probe) -> tuple[bytes, int]:
        n = probe.call_c_func("get_state", 0, self._probe_buf, _MAX_STATE_SIZE)
        raw = bytes(probe._ffi.buffer(self._probe_buf, n))
        return raw, len(raw)

    def _probe_step(self, state: bytes, action: int) -> bool:
        """From ``state``, does ``action`` end the episode without the coin?"""
        probe = self._probe_env()
        probe.call_c_func("set_state", 0, state, len(state))
        probe.act(np.array([action], dtype=np.int32))
        reward, _, first = probe.observe()
        return bool(first[0]) and reward[0] == 0

    def last_state_before(self, i: int) -> tuple[bytes, int]:
        """Env i's state before its latest step, rebuilt by replay from its snapshot, and that step's action."""
        probe = self._probe_env()
        ring = len(self._history)
        actions = [int(self._history[(self._t - k) % ring, i]) for k in range(int(self._age[i]), 0, -1)]
        snapshot = self._snapshot[i]
        probe.call_c_func("set_state", 0, snapshot, len(snapshot))
        for action in actions[:-1]:
            probe.act(np.array([action], dtype=np.int32))
            probe.observe()
        return self._read_probe(probe)[0], actions[-1]

    def _death_cause(self, i: int) -> str:
        before, action = self.last_state_before(i)
        causes = [cause for cause in ("lava", "saw", "enemy") if self._probe_step(only_hazard(before, cause), action)]
        return causes[0] if len(causes) >= 1 else "unknown"


@contextlib.contextmanager
def _gc_paused():
    """No cyclic garbage collection inside: gym3/cffi create a C function's accessor under a non-reentrant lock
    the first time it is used, and a GC pass in that window that frees another gym3 env (one caught in a
    reference cycle) runs its ``__del__``, which takes the same lock: the process hangs (seen in testing)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def count_saws(parsed: CoinRunState) -> int:
    return int(np.sum(parsed.entity_records[1:, ENTITY_FIELDS.index("type")] == SAW))


def only_hazard(state: bytes, cause: str) -> bytes:
    """``state`` with every hazard but ``cause`` ("lava", "saw" or "enemy") removed from the level."""
    p = parse(state)
    grid = p.grid.copy()
    if cause != "lava":
        grid[np.isin(grid, LAVA)] = SPACE
    keep_types = {"saw": SAW, "enemy": ENEMY}.get(cause)
    types = p.entity_records[:, ENTITY_FIELDS.index("type")]
    keep = ~np.isin(types, [SAW, ENEMY]) | (types == keep_types)
    keep[0] = True
    return dataclasses.replace(p, grid=grid, entity_records=p.entity_records[keep]).to_bytes()
