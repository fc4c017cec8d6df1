"""The example agent: an MLP over FrozenLake's three planes, trained by mirl's PPO on train maps."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mirl.agents import AgentSpec
from mirl.hooked import HookedAgent, HookPoint
from mirl.ppo import PPOConfig

from . import env as lake

HIDDEN = 64


class Layer(nn.Module):
    def __init__(self, inputs: int, outputs: int, relu: bool = True):
        super().__init__()
        self.linear, self.relu = nn.Linear(inputs, outputs), relu
        self.hook_out = HookPoint((outputs,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return self.hook_out(torch.relu(y) if self.relu else y)


class LakeAgent(HookedAgent):
    """obs [batch, 3, 5, 5] → (logits [batch, 4]: left, down, right, up; value [batch])."""

    def __init__(self):
        super().__init__()
        self.hook_obs = HookPoint((3, lake.SIZE, lake.SIZE))
        self.hidden1 = Layer(3 * lake.SIZE * lake.SIZE, HIDDEN)
        self.hidden2 = Layer(HIDDEN, HIDDEN)
        self.policy = Layer(HIDDEN, 4, relu=False)
        self.value = Layer(HIDDEN, 1, relu=False)
        self.setup_hooks()

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.hidden2(self.hidden1(self.hook_obs(obs).flatten(1)))
        return self.policy(h), self.value(h).squeeze(-1)


CONFIG = PPOConfig(total_steps=600_000, num_envs=64, num_steps=32, learning_rate=1e-3, gamma=0.95, num_minibatches=4,
                   update_epochs=4, ent_coef=0.01, seed=0, checkpoints=10, log_every=50)


def spec(evaluate=None) -> AgentSpec:
    return AgentSpec(
        id="lake-ppo", family="example", folder=Path(__file__).parent, checkpoint="lake-ppo.pt",
        card="lake-ppo.card.json", build=LakeAgent, make_agent=lambda seed: LakeAgent(),
        make_env=lambda num_envs, seed: lake.vec_env(num_envs, seed, "train"), config=CONFIG, evaluate=evaluate,
        architecture="MLP: planes 75 → 64 → 64 → policy 4 / value 1", ship_snapshots=0,
    )
