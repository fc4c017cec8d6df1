"""The smoke agent: a planted convolutional encoder under a trained MLP policy.

Planted (fixed, never trained) so that ground truth is exact by construction:
- ``encoder.hook_out`` channel 0 is a copy of the agent plane, channel 1 a copy of the goal plane;
- channels 2..7 are fixed random 3×3 filters of the agent plane only (their weights on the goal plane are 0).
So the goal position lives exactly in channel 1 of ``encoder.hook_out``, and no other encoder unit depends
on it. The dense layer and the heads on top are trained with mirl's PPO (``mirl agents train smoke``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from mirl.agents import AgentSpec
from mirl.hooked import HookedAgent, HookPoint
from mirl.ppo import PPOConfig

from . import env as grid

ENCODER_CHANNELS = 8
HIDDEN = 48
AGENT_CHANNEL, GOAL_CHANNEL = 0, 1


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, ENCODER_CHANNELS, kernel_size=3, padding=1)
        self.hook_out = HookPoint((ENCODER_CHANNELS, grid.SIZE, grid.SIZE))  # [batch, 8, 7, 7] after ReLU

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.hook_out(torch.relu(self.conv(obs)))


class Dense(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(ENCODER_CHANNELS * grid.SIZE * grid.SIZE, HIDDEN)
        self.hook_out = HookPoint((HIDDEN,))  # [batch, 48] after ReLU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_out(torch.relu(self.linear(x.flatten(1))))


class PolicyHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(HIDDEN, 4)
        self.hook_logits = HookPoint((4,))  # [batch, 4]: up, down, left, right

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_logits(self.linear(x))


class ValueHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(HIDDEN, 1)
        self.hook_value = HookPoint((1,))  # [batch, 1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_value(self.linear(x))


class SmokeAgent(HookedAgent):
    """obs [batch, 2, 7, 7] → (logits [batch, 4], value [batch])."""

    def __init__(self):
        super().__init__()
        self.hook_obs = HookPoint((2, grid.SIZE, grid.SIZE))  # [batch, 2, 7, 7]: the observation itself
        self.encoder = Encoder()
        self.dense = Dense()
        self.policy = PolicyHead()
        self.value = ValueHead()
        self.setup_hooks()

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.dense(self.encoder(self.hook_obs(obs)))
        return self.policy(h), self.value(h).squeeze(-1)


def plant_encoder(encoder: Encoder, rng: np.random.Generator) -> None:
    """Write the planted weights described in the module docstring."""
    weight = np.zeros((ENCODER_CHANNELS, 2, 3, 3), dtype=np.float32)
    bias = np.zeros(ENCODER_CHANNELS, dtype=np.float32)
    weight[AGENT_CHANNEL, 0, 1, 1] = 1.0
    weight[GOAL_CHANNEL, 1, 1, 1] = 1.0
    # Distractors see the agent plane only, so they carry position features but no goal information.
    weight[2:, 0] = rng.normal(0.0, 1.0, size=(ENCODER_CHANNELS - 2, 3, 3)).astype(np.float32)
    bias[2:] = rng.normal(0.0, 0.1, size=ENCODER_CHANNELS - 2).astype(np.float32)
    with torch.no_grad():
        encoder.conv.weight.copy_(torch.from_numpy(weight))
        encoder.conv.bias.copy_(torch.from_numpy(bias))
    encoder.conv.requires_grad_(False)


def goal_unit_mask() -> np.ndarray:
    """[8, 7, 7] bool: the encoder units that depend on the goal position (exact, by construction)."""
    mask = np.zeros((ENCODER_CHANNELS, grid.SIZE, grid.SIZE), dtype=bool)
    mask[GOAL_CHANNEL] = True
    return mask


# The shipped agent's PPO settings (recorded on its card); 500k steps take under a minute on 2 CPU cores.
CONFIG = PPOConfig(
    total_steps=500_000, num_envs=64, num_steps=32, learning_rate=1e-3, gamma=0.9, num_minibatches=4,
    update_epochs=4, ent_coef=0.01, seed=0, checkpoints=10, log_every=50,
)


def make_agent(seed: int) -> SmokeAgent:
    """A fresh agent: random dense layer and heads, and the planted (frozen) encoder."""
    agent = SmokeAgent()  # seed_everything(seed) has run before this, so the init is seeded
    plant_encoder(agent.encoder, np.random.default_rng(seed))
    return agent


def make_env(num_envs: int, seed: int):
    """Training envs: episodes start from every (agent, goal) pair, train and test pools alike (the pools
    split what *methods* may see; the agent itself is trained on the whole grid)."""
    return grid.SmokeGridVecEnv(num_envs, seed=seed)


def spec(evaluate=None) -> AgentSpec:
    """``evaluate``: the card's measure (``card.evaluate``, attached where the family registers its agents)."""
    return AgentSpec(
        id="smoke-ppo", family="smoke", folder=Path(__file__).parent, checkpoint="smoke-ppo.pt",
        card="smoke-ppo.card.json", build=SmokeAgent, make_agent=make_agent, make_env=make_env, config=CONFIG,
        evaluate=evaluate,
        architecture="planted conv encoder (2→8, 3×3, frozen) → dense 392→48 → policy 4 / value 1",
        notes=["reproduce: mirl agents train smoke --ship (same seed → the same bytes on the CPU and torch build the "
               "card names)"],
    )
