"""procgen CoinRun behind mirl's vectorized-env protocol (gymnasium vector API, same-step autoreset).

procgen's gym3 env underneath already autoresets within ``act``: after a step, ``observe()`` returns the
first frame of the next episode with ``first=True`` for envs whose episode just ended, which is exactly
mirl's same-step convention. Observations are channel-first uint8 frames [B, 3, 64, 64].

Every option that changes what the agent sees or which levels it plays is fixed here and recorded on the
agent card: easy mode, no backgrounds, restricted themes, a fixed level range. The state (for exact resume of
training) is procgen's own serialized per-env state plus our episode-step counters; serialized states are
checked in Python before ``set_state``, since a malformed one makes procgen exit the whole process.
"""

from __future__ import annotations

import struct
from typing import Any

import gymnasium as gym
import numpy as np

TIMEOUT = 1000  # procgen's CoinRun episode limit (steps)
STATE_END_MARKER = 0xCAFECAFE
GAME = b"coinrun"

# Training and held-out level ranges never overlap.
TRAIN_LEVELS = (0, 100_000)  # start_level, num_levels
HELD_OUT_START = 10_000_000


def check_state(state: bytes) -> None:
    """Refuse bytes procgen would die on: wrong game, truncated, or missing the end marker."""
    if len(state) < 16416 + 87:
        raise ValueError(f"a CoinRun state is ~37 KB; got {len(state)} bytes (truncated?)")
    name_length = struct.unpack_from("<i", state, 4)[0]
    name = state[8:8 + name_length]
    if name != GAME:
        raise ValueError(f"state is from game {name!r}, not coinrun")
    if struct.unpack_from("<I", state, len(state) - 4)[0] != STATE_END_MARKER:
        raise ValueError("state lacks procgen's end marker (truncated or corrupted)")
    if struct.unpack_from("<3i", state, len(state) - 16416 - 12) != (64, 64, 4096):
        raise ValueError("state's level grid header is not 64×64 (not a stock CoinRun state)")


class CoinRunVecEnv:
    """``num_envs`` CoinRun games on levels ``[start_level, start_level + num_levels)``."""

    def __init__(
        self,
        num_envs: int,
        seed: int = 0,
        start_level: int = TRAIN_LEVELS[0],
        num_levels: int = TRAIN_LEVELS[1],
        distribution_mode: str = "easy",
        use_backgrounds: bool = False,
        restrict_themes: bool = True,
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

    def _make(self, seed: int) -> None:
        from procgen import ProcgenGym3Env

        self._env = ProcgenGym3Env(num=self.num_envs, env_name="coinrun", rand_seed=int(seed) % 2**31, **self.options)

    def _obs(self) -> np.ndarray:
        _, obs, _ = self._env.observe()
        return np.ascontiguousarray(obs["rgb"].transpose(0, 3, 1, 2))

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        self._make(self.seed if seed is None else seed)
        self.episode_steps[:] = 0
        return self._obs(), {}

    def step(self, actions: np.ndarray):
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
        info = self._env.get_info()
        return {"level_seed": np.array([i["level_seed"] for i in info], dtype=np.int64)}

    def get_state(self) -> dict[str, Any]:
        return {"procgen": self._env.callmethod("get_state"), "episode_steps": self.episode_steps.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        if self._env is None:
            self._make(self.seed)
        for raw in state["procgen"]:
            check_state(raw)
        self._env.callmethod("set_state", list(state["procgen"]))
        self.episode_steps = state["episode_steps"].copy()

    def close(self) -> None:
        self._env = None
