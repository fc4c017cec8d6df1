"""The vectorized-environment protocol every task family implements, and the budget wrapper for views.

mirl's vectorized envs follow gymnasium's vector API with **same-step autoreset**: when an episode ends at a
step, ``step`` returns the first observation of the env's next episode (and ``terminated``/``truncated``
for the one that ended), so ``done`` marks that the *next* observation starts a new episode. Families add
two things gymnasium does not have:

- ``labels() -> dict[str, np.ndarray]``: exact labels of the current states, one array per label, batch first
  (goal position, has-key, box positions, ...), read from the environment state, never estimated;
- ``get_state() / set_state(state)``: a picklable snapshot of everything (including RNGs), so a training run
  can stop and resume exactly.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

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
