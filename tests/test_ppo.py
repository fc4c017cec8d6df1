"""The PPO trainer: deterministic for a seed, exact resume, checkpoints spread over training, clear errors."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from mirl.errors import MirlError
from mirl.hooked import HookedAgent, HookPoint
from mirl.ppo import SNAPSHOT_DIR, STATE_FILE, PPOConfig, train
from mirl.tasks.smoke import agent as smoke
from mirl.tasks.smoke.env import SIZE, SmokeGridVecEnv

FF = PPOConfig(total_steps=8 * 16 * 12, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=2,
               gamma=0.9, learning_rate=1e-3, seed=3, checkpoints=10, log_every=1000)


class TinyRecurrent(HookedAgent):
    """A GRU over the flattened smoke observation: enough to exercise state carrying and resets."""

    recurrent = True

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.hidden = hidden
        self.cell = nn.GRUCell(2 * SIZE * SIZE, hidden)
        self.hook_h = HookPoint((hidden,))  # [batch, hidden]
        self.policy = nn.Linear(hidden, 4)
        self.value = nn.Linear(hidden, 1)
        self.setup_hooks()

    def initial_state(self, batch_size):
        return (torch.zeros(batch_size, self.hidden),)

    def forward(self, obs, state):
        h = self.hook_h(self.cell(obs.flatten(1), state[0]))
        return self.policy(h), self.value(h).squeeze(-1), (h,)


RNN = dataclasses.replace(FF, num_minibatches=2, bptt_length=8)


def weights(agent):
    return {k: v.clone() for k, v in agent.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def run(config, tmp, make_agent, **kw):
    return train(config, make_agent, lambda n, s: SmokeGridVecEnv(n, seed=s), tmp, log=lambda s: None, **kw)


@pytest.mark.parametrize("kind", ["feed-forward", "recurrent"])
def test_same_seed_same_weights_and_resume_equals_uninterrupted(tmp_path, kind):
    config, make = (FF, lambda: smoke.make_agent(FF.seed)) if kind == "feed-forward" else (RNN, TinyRecurrent)
    straight = weights(run(config, tmp_path / "a", make))
    again = weights(run(config, tmp_path / "b", make))
    assert same(straight, again)

    half = config.num_updates // 2
    run(config, tmp_path / "c", make, stop_after_updates=half)
    state = torch.load(tmp_path / "c" / STATE_FILE, weights_only=False)
    assert state["training"].update == half
    run(config, tmp_path / "c", make, stop_after_updates=half + 2, resume=True)  # stopped twice
    resumed = weights(run(config, tmp_path / "c", make, resume=True))
    assert same(straight, resumed)

    other = weights(run(dataclasses.replace(config, seed=config.seed + 1), tmp_path / "d", make))
    assert not same(straight, other)


@pytest.mark.slow
def test_training_improves_the_smoke_agent(tmp_path):
    config = dataclasses.replace(smoke.CONFIG, total_steps=64 * 32 * 40)

    def mean_return():
        return np.mean(torch.load(tmp_path / STATE_FILE, weights_only=False)["training"].recent_returns)

    run(config, tmp_path, lambda: smoke.make_agent(config.seed), stop_after_updates=2)
    early = mean_return()
    run(config, tmp_path, lambda: smoke.make_agent(config.seed), resume=True)
    assert mean_return() > early + 0.15, (early, mean_return())


def test_snapshots_are_spread_over_training(tmp_path):
    run(FF, tmp_path, lambda: smoke.make_agent(FF.seed))
    snapshots = sorted((tmp_path / SNAPSHOT_DIR).glob("step*.pt"))
    steps = [int(p.stem[4:]) for p in snapshots]
    assert len(steps) >= 10 and steps[-1] == FF.num_updates * FF.batch_size
    assert steps == sorted(set(steps)) and steps[0] <= FF.total_steps // 10 + FF.batch_size
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == FF.seed


def test_resuming_from_a_truncated_state_is_a_clear_error(tmp_path):
    run(FF, tmp_path, lambda: smoke.make_agent(FF.seed), stop_after_updates=2)
    path = tmp_path / STATE_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(MirlError, match="is truncated or corrupt"):
        run(FF, tmp_path, lambda: smoke.make_agent(FF.seed), resume=True)


def test_resume_with_other_settings_or_no_state_is_refused(tmp_path):
    with pytest.raises(MirlError, match="no training state"):
        run(FF, tmp_path / "none", lambda: smoke.make_agent(FF.seed), resume=True)
    run(FF, tmp_path, lambda: smoke.make_agent(FF.seed), stop_after_updates=1)
    with pytest.raises(MirlError, match="trained with other settings"):
        run(dataclasses.replace(FF, learning_rate=0.1), tmp_path, lambda: smoke.make_agent(FF.seed), resume=True)


def test_unknown_setting_is_named():
    with pytest.raises(MirlError, match=r"unknown PPO setting\(s\) \['learning_rat'\]"):
        PPOConfig.from_dict({"learning_rat": 1e-3})


@pytest.mark.slow
def test_cli_trains_in_a_subprocess_and_resumes(tmp_path):
    """The real trainer through `mirl agents train`, a few updates, stopped and resumed."""
    env = {**os.environ, "MIRL_HOME": str(tmp_path / "home")}
    settings = json.dumps({"num_envs": 8, "num_steps": 16, "num_minibatches": 2, "checkpoints": 2})
    base = [sys.executable, "-m", "mirl", "agents", "train", "smoke", "--steps", "640", "--config", settings,
            "--run-dir", str(tmp_path / "run")]
    done = subprocess.run(base, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    card = json.loads(done.stdout)
    assert card["id"] == "smoke-ppo" and card["steps"] == 640 and len(card["sha256"]) == 64
    assert (tmp_path / "run" / "final" / "smoke-ppo.card.json").exists()
    again = subprocess.run(base + ["--resume"], env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "resumed" in again.stderr


def test_training_curves_go_to_wandb_offline(tmp_path, monkeypatch):
    from mirl.leaderboards.wandb_sink import read_offline_run, start_training_run

    monkeypatch.setenv("WANDB_MODE", "offline")
    wandb_run = start_training_run(tmp_path / "wandb", "smoke-test", dataclasses.asdict(FF))
    run_dir = wandb_run.settings.sync_dir
    try:
        run(FF, tmp_path / "run", lambda: smoke.make_agent(FF.seed), wandb_run=wandb_run)
    finally:
        wandb_run.finish()
    recorded = read_offline_run(run_dir)
    assert recorded["config"]["seed"] == FF.seed and recorded["run"]["job_type"] == "train"
    steps = [row for row in recorded["history"] if "charts/episodic_return" in row]
    assert len(steps) == FF.num_updates
    assert {"losses/policy_loss", "losses/value_loss", "losses/entropy", "charts/SPS"} <= set(steps[-1])
