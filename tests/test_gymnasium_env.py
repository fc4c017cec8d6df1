"""mirl.envs.GymnasiumVecEnv: gymnasium environments as a mirl VecEnv."""

from __future__ import annotations

import numpy as np
from gymnasium.envs.toy_text.frozen_lake import FrozenLakeEnv

from mirl.envs import GymnasiumVecEnv, VecEnv

CORRIDOR = ["SFFG"]  # right, right, right reaches the goal; left stays put


def corridor_env(seed: int) -> FrozenLakeEnv:
    return FrozenLakeEnv(desc=CORRIDOR, is_slippery=False)


def make(num_envs: int = 3, **kwargs) -> GymnasiumVecEnv:
    return GymnasiumVecEnv(corridor_env, num_envs, seed=0, labels=lambda env: {"square": int(env.unwrapped.s)},
                           **kwargs)


def test_same_step_autoreset_labels_and_the_protocol():
    env = make()
    assert isinstance(env, VecEnv) and env.single_action_space.n == 4 and env.single_observation_space.shape == ()
    obs, _ = env.reset(seed=1)
    assert obs.tolist() == [0, 0, 0] and env.labels()["square"].tolist() == [0, 0, 0]
    right, left = 2, 0
    for _ in range(2):
        obs, reward, terminated, truncated, _ = env.step(np.array([right, right, left]))
    assert obs.tolist() == [2, 2, 0] and not terminated.any()
    obs, reward, terminated, truncated, _ = env.step(np.array([right, left, left]))
    # env 0 reached the goal: it is marked terminated, rewarded, and already shows its next episode's start
    assert terminated.tolist() == [True, False, False] and reward.tolist() == [1.0, 0.0, 0.0]
    assert obs.tolist() == [0, 1, 0] and env.labels()["square"].tolist() == [0, 1, 0]


def test_the_step_limit_truncates_and_the_state_replays():
    env = make(max_episode_steps=2)
    env.reset(seed=3)
    env.step(np.array([0, 0, 0]))
    _, _, terminated, truncated, _ = env.step(np.array([0, 0, 0]))
    assert truncated.all() and not terminated.any()
    env.step(np.array([2, 2, 2]))
    saved = env.get_state()
    first = [env.step(np.array([2, 2, 0]))[0].tolist() for _ in range(3)]
    env.set_state(saved)
    assert [env.step(np.array([2, 2, 0]))[0].tolist() for _ in range(3)] == first
