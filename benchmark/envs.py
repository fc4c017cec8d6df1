"""The vectorized-environment protocol every task family implements, and the budget wrapper for views.

mirl's vectorized envs follow gymnasium's vector API with **same-step autoreset**: when an episode ends at a
step, ``step`` returns the first observation of the env's next episode (and ``terminated``/``truncated``
for the one that ended), so ``done`` marks that the *next* observation starts a new episode. Families add
two things gymnasium does not have:

- ``labels() -> dict[str, np.ndarray]``: exact labels of the current states, one array per label, batch first
  (goal position, has-key, box positions, ...), read from the environment state, never estimated;
- ``get_state() / set_state(state)``: a picklable snapshot of everything (including RNGs), so a training run
  can stop and resume exactly.

``GymnasiumVecEnv`` makes one from a family's gymnasium ``Env`` (one environment per episode, labels read from it).
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class VecEnv(Protocol):
    num_envs: int
    single_observation_space: Any
    single_action_space: Any

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]: ...

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]: ...

    def labels(self) -> dict[str, np.ndarray]: ...

    def get_state(self) -> Any: ...

    def set_state(self, state: Any) -> None: ...


class BudgetedEnv:
    """A view's environment: every step counts ``num_envs`` env steps against the task's budget."""

    def __init__(self, env: VecEnv, meter: Any):
        self._env = env
        self._meter = meter
        self.num_envs = env.num_envs
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._meter.check()
        return self._env.reset(seed=seed, options=options)

    def step(self, actions: np.ndarray):
        self._meter.add(env_steps=self.num_envs)
        return self._env.step(actions)

    def labels(self) -> dict[str, np.ndarray]:
        return self._env.labels()

    def close(self) -> None:
        close = getattr(self._env, "close", None)
        if close is not None:
            close()


class GymnasiumVecEnv:
    """``num_envs`` gymnasium environments as one mirl VecEnv: same-step autoreset, exact labels, and a picklable
    state, for a family whose environment is a gymnasium ``Env``.

    ``make(seed)`` returns the environment for one episode, so every episode may be a new map or level drawn from
    ``seed`` (and a split can be a property of what it draws); ``observe(env, obs)`` turns an observation into the
    agent's array (default: the observation, float32); ``labels(env)`` gives the exact labels of its current state,
    one scalar each. Episode seeds come from one generator that ``reset(seed=)`` seeds, so a run replays exactly.
    ``max_episode_steps`` truncates episodes the environment itself does not."""

    def __init__(self, make: Callable[[int], Any], num_envs: int, seed: int = 0,
                 observe: Callable[[Any, Any], np.ndarray] | None = None,
                 labels: Callable[[Any], dict[str, Any]] | None = None, max_episode_steps: int | None = None):
        import gymnasium as gym

        self.num_envs = num_envs
        self._make = make
        self._observe = observe or (lambda env, obs: np.asarray(obs, dtype=np.float32))
        self._labels = labels or (lambda env: {})
        self.max_episode_steps = max_episode_steps
        self._rng = np.random.default_rng(seed)
        probe = make(0)
        first = self._observe(probe, probe.reset(seed=0)[0])
        self.single_action_space = probe.action_space
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, shape=first.shape, dtype=first.dtype)
        probe.close()
        self.envs: list[Any] = []
        self._obs: list[np.ndarray] = []
        self.steps = np.zeros(num_envs, dtype=np.int64)

    def _start(self, i: int) -> None:
        seed = int(self._rng.integers(2**31))
        env = self._make(seed)
        obs, _ = env.reset(seed=seed)
        if i < len(self.envs):
            self.envs[i].close()
            self.envs[i], self._obs[i] = env, self._observe(env, obs)
        else:
            self.envs.append(env)
            self._obs.append(self._observe(env, obs))
        self.steps[i] = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        for i in range(self.num_envs):
            self._start(i)
        return np.stack(self._obs), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        for i, action in enumerate(np.asarray(actions).tolist()):
            obs, rewards[i], terminated[i], truncated[i], _ = self.envs[i].step(action)
            self.steps[i] += 1
            limit = self.max_episode_steps is not None and self.steps[i] >= self.max_episode_steps
            truncated[i] = not terminated[i] and (truncated[i] or limit)
            if terminated[i] or truncated[i]:
                self._start(i)
            else:
                self._obs[i] = self._observe(self.envs[i], obs)
        return np.stack(self._obs), rewards, terminated, truncated, {}

    def labels(self) -> dict[str, np.ndarray]:
        rows = [self._labels(env) for env in self.envs]
        return {key: np.array([row[key] for row in rows]) for key in (rows[0] if rows else {})}

    def get_state(self) -> bytes:
        import pickle

        return pickle.dumps((self.envs, self._obs, self.steps, self._rng.bit_generator.state))

    def set_state(self, state: bytes) -> None:
        import pickle

        self.envs, self._obs, self.steps, rng = pickle.loads(state)
        self._rng.bit_generator.state = rng

    def close(self) -> None:
        for env in self.envs:
            env.close()
