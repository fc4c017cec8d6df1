"""mirl.offline: a transformer agent distils Thompson sampling's bandit histories in context (it then acts better
than chance on bandits it never saw), to the same bytes for a seed, resumed or not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mirl.errors import MirlError
from mirl.offline import IGNORE, SequenceConfig, SequenceData, position_logits, train_sequences
from mirl.tasks.icrl import env as B
from mirl.transformer import TransformerAgent, TransformerConfig

HORIZON = 20
ACTIONS = list(range(B.VOCAB, B.VOCAB + B.ARMS))  # output-only vocabulary entries, one per arm
MODEL = TransformerConfig(n_layers=1, d_model=32, n_heads=2, d_head=16, d_mlp=64, d_vocab=B.VOCAB + B.ARMS,
                          n_ctx=HORIZON)


def make_agent():
    return TransformerAgent(MODEL, ACTIONS, pad_token=B.PAD)


def histories(n: int, seed: int, split: str) -> tuple[np.ndarray, SequenceData]:
    rng = np.random.default_rng(seed)
    means = B.draw_bandits(n, rng, split)
    actions, rewards = B.thompson(means, rng, HORIZON)
    return means, SequenceData(B.contexts(actions, rewards), actions)


@pytest.mark.slow
def test_distilled_histories_act_in_context_on_unseen_bandits(tmp_path):
    _, data = histories(2000, 0, "train")
    config = SequenceConfig(total_steps=400, batch=32, learning_rate=3e-3, warmup_steps=20, checkpoints=4)
    run = train_sequences(config, make_agent, data, tmp_path, log=lambda _: None)
    assert run.finished and run.step == 400
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("*.pt")) == [f"step{s:010d}.pt" for s in (100, 200, 300, 400)]
    assert run.losses["action_ce"] < np.log(B.ARMS) - 0.15  # below a uniform guess over the arms
    # play unseen test bandits with the agent's own greedy actions
    env = B.BanditVecEnv(256, seed=5, split="test", horizon=HORIZON)
    obs, _ = env.reset(seed=5)
    regret = np.zeros(256)
    with torch.no_grad():
        for _ in range(HORIZON):
            obs, _, _, _, info = env.step(run.agent(torch.from_numpy(obs))[0].argmax(-1).numpy())
            regret += info["regret"]
    means = B.draw_bandits(4000, np.random.default_rng(9), "test")
    uniform = (means.max(1) - means.mean(1)).mean() * HORIZON
    print(f"\nloss {run.losses['action_ce']:.3f}, regret {regret.mean():.2f} vs uniform {uniform:.2f}")
    assert regret.mean() < 0.7 * uniform, (regret.mean(), uniform)


def test_the_same_seed_gives_the_same_bytes_resumed_or_not(tmp_path):
    _, data = histories(200, 1, "train")
    data.actions[:, -3:] = IGNORE  # positions without a target are skipped
    config = SequenceConfig(total_steps=30, batch=8, warmup_steps=5, checkpoints=3, save_every_seconds=1e9)
    whole = train_sequences(config, make_agent, data, tmp_path / "whole", log=lambda _: None)
    again = train_sequences(config, make_agent, data, tmp_path / "again", log=lambda _: None)
    half = train_sequences(config, make_agent, data, tmp_path / "half", log=lambda _: None, stop_after_steps=13)
    assert not half.finished and half.step == 13
    resumed = train_sequences(config, make_agent, data, tmp_path / "half", resume=True, log=lambda _: None)
    for other in (again, resumed):
        assert resumed.finished
        for key, value in whole.agent.state_dict().items():
            assert torch.equal(value, other.agent.state_dict()[key]), key
    with torch.no_grad():
        assert position_logits(whole.agent, torch.from_numpy(data.tokens[:2])).shape == (2, HORIZON, B.ARMS)


def test_bad_settings_and_data_are_one_line(tmp_path):
    with pytest.raises(MirlError, match=r"unknown offline-training setting\(s\) \['epochs'\]"):
        SequenceConfig.from_dict({"epochs": 3})
    with pytest.raises(ValueError, match=r"tokens \[2, 5\] and actions \[2, 4\] must both be"):
        SequenceData(np.zeros((2, 5), dtype=np.int64), np.zeros((2, 4), dtype=np.int64))
    _, data = histories(20, 2, "train")
    train_sequences(SequenceConfig(total_steps=2, batch=4, warmup_steps=1), make_agent, data, tmp_path / "a",
                    log=lambda _: None)
    with pytest.raises(MirlError, match="was trained with other settings"):
        train_sequences(SequenceConfig(total_steps=3, batch=4, warmup_steps=1), make_agent, data, tmp_path / "a",
                        resume=True, log=lambda _: None)
    with pytest.raises(MirlError, match="no offline-training state at"):
        train_sequences(SequenceConfig(total_steps=2), make_agent, data, tmp_path / "none", resume=True)
