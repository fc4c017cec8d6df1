"""The doorkey agents. ``doorkey-ppo``: a grid CNN trained naturally with mirl's PPO on DoorKey-8x8 (the planted
agents of issue 7 share its architecture, so the same hook names mean the same layers).

Hook points: ``encoder.conv{0,1,2}.hook_out`` [32, 6, 6] (post-ReLU, square-aligned), ``dense.hook_out`` [128].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mirl.agents import AgentSpec
from mirl.nets import GridCNN
from mirl.ppo import PPOConfig

from . import env as doorkey

SIZE = 8
INNER = SIZE - 2
CHANNELS, LAYERS, HIDDEN = 32, 3, 128
EVAL_EPISODES = 500

CONFIG = PPOConfig(
    total_steps=2_000_000, num_envs=32, num_steps=128, learning_rate=5e-4, anneal_lr=True, gamma=0.99,
    gae_lambda=0.95, num_minibatches=4, update_epochs=4, clip_coef=0.2, ent_coef=0.01, vf_coef=0.5,
    max_grad_norm=0.5, reward_scaling=False, seed=0, checkpoints=10, save_every_seconds=120.0, log_every=10,
)


def build() -> GridCNN:
    return GridCNN(in_channels=doorkey.PLANES, size=INNER, num_actions=doorkey.NUM_ACTIONS, channels=CHANNELS,
                   layers=LAYERS, hidden=HIDDEN)


def make_env(num_envs: int, seed: int) -> doorkey.DoorKeyVecEnv:
    return doorkey.DoorKeyVecEnv(num_envs, size=SIZE, seed=seed, split="train")


@torch.no_grad()
def success(agent, episodes: int = EVAL_EPISODES, greedy: bool = False, seed: int = 0,
            num_envs: int = 50) -> dict[str, float]:
    """Held-out-seed episodes (MiniGrid's step limit): the fraction reaching the goal, and their mean length."""
    env = doorkey.DoorKeyVecEnv(num_envs, size=SIZE, seed=seed, split="test")
    obs, _ = env.reset(seed=seed)
    generator = torch.Generator().manual_seed(seed)
    done_count, reached, lengths = 0, 0, []
    steps = np.zeros(num_envs, dtype=np.int64)
    counted = np.arange(num_envs) < episodes  # env i's first episode is episode i; later ones in end order
    started = num_envs
    while done_count < episodes:
        logits, _ = agent(torch.from_numpy(obs))
        actions = logits.argmax(-1) if greedy else torch.multinomial(torch.softmax(logits, -1), 1,
                                                                     generator=generator).squeeze(1)
        obs, _, terminated, truncated, _ = env.step(actions.numpy())
        steps += 1
        for i in np.flatnonzero(terminated | truncated):
            if counted[i]:
                done_count += 1
                reached += int(terminated[i])
                if terminated[i]:
                    lengths.append(int(steps[i]))
            counted[i] = started < episodes
            started += 1
            steps[i] = 0
    return {"success": reached / episodes, "mean_length": float(np.mean(lengths)) if lengths else float("nan")}


def evaluate(agent) -> dict:
    sampled, greedy = success(agent), success(agent, greedy=True, seed=1)
    return {
        "metrics": {"success_sampled": sampled["success"], "success_greedy": greedy["success"],
                    "mean_length_sampled": sampled["mean_length"], "mean_length_greedy": greedy["mean_length"]},
        "evaluation": f"{EVAL_EPISODES} DoorKey-8x8 episodes each on held-out reset seeds (≥ 10⁹; the 8×8 layout "
                      "space is small, so these are new seeds more than new layouts), MiniGrid's step limit",
        "environment": {"size": SIZE, "observation": "MiniGrid full encoding, one-hot 21 planes, interior"},
        "behavioural_facts": [f"reaches the goal in {sampled['success']:.1%} of held-out episodes (sampled "
                              f"actions; greedy {greedy['success']:.1%})"],
    }


def spec() -> AgentSpec:
    return AgentSpec(
        id="doorkey-ppo", family="doorkey", folder=Path(__file__).parent, checkpoint="doorkey-ppo.pt",
        card="doorkey-ppo.card.json", build=build, make_agent=lambda seed: build(), make_env=make_env,
        config=CONFIG, evaluate=evaluate,
        architecture=f"grid CNN: {LAYERS} × conv 3×3 ({CHANNELS}, padding 1, keeps {INNER}×{INNER}) → dense "
        f"{HIDDEN} → policy {doorkey.NUM_ACTIONS} / value 1",
    )
