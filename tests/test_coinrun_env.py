"""The CoinRun adapter: protocol, determinism, state validation, exact resume of training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mirl.tasks.coinrun import agent as coinrun
from mirl.tasks.coinrun.env import CoinRunVecEnv, check_state


def rollout(seed: int, steps: int = 40):
    env = CoinRunVecEnv(4, seed=seed)
    obs, _ = env.reset(seed=seed)
    frames, rng = [obs], np.random.default_rng(0)
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(rng.integers(0, 15, size=4))
        frames.append(obs)
    return np.stack(frames)


def test_observations_are_channel_first_frames_and_seeded():
    a, b, c = rollout(1), rollout(1), rollout(2)
    assert a.shape == (41, 4, 3, 64, 64) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_state_round_trip_and_validation():
    env = CoinRunVecEnv(2, seed=0)
    env.reset()
    state = env.get_state()
    for raw in state["procgen"]:
        check_state(raw)
    good = state["procgen"][0]
    with pytest.raises(ValueError, match="truncated"):
        check_state(good[:1000])
    with pytest.raises(ValueError, match="end marker"):
        check_state(good[:-4] + b"\0\0\0\0")
    from procgen import ProcgenGym3Env

    maze = ProcgenGym3Env(num=1, env_name="maze", rand_seed=0).callmethod("get_state")[0]
    with pytest.raises(ValueError, match="not coinrun"):
        check_state(maze)
    env.set_state(state)  # a valid state is accepted
    np.testing.assert_array_equal(env.get_state()["procgen"][0], good)


def test_training_resumes_exactly(tmp_path):
    from mirl.ppo import train

    config = dataclasses.replace(coinrun.CONFIG, total_steps=8 * 16 * 4, num_envs=8, num_steps=16,
                                 num_minibatches=2, log_every=100)
    make = lambda: coinrun.make_agent(config.seed)  # noqa: E731
    straight = train(config, make, coinrun.make_env, tmp_path / "a", log=lambda s: None)
    train(config, make, coinrun.make_env, tmp_path / "b", stop_after_updates=2, log=lambda s: None)
    resumed = train(config, make, coinrun.make_env, tmp_path / "b", resume=True, log=lambda s: None)
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


def test_agent_hook_points_are_pinned():
    agent = coinrun.build()
    assert agent.hook_points() == {
        "hook_obs": (3, 64, 64),
        "encoder.conv0.hook_out": (32, 15, 15),
        "encoder.conv1.hook_out": (64, 6, 6),
        "encoder.conv2.hook_out": (64, 4, 4),
        "dense.hook_out": (256,),
        "policy.hook_logits": (15,),
        "value.hook_value": (1,),
    }
    assert sum(p.numel() for p in agent.parameters()) <= 1_500_000
