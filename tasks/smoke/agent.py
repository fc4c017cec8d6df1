"""The smoke agent: a planted convolutional encoder under a trained MLP policy.

Planted (fixed, never trained) so that ground truth is exact by construction:
- ``encoder.hook_out`` channel 0 is a copy of the agent plane, channel 1 a copy of the goal plane;
- channels 2..7 are fixed random 3×3 filters of the agent plane only (their weights on the goal plane are 0).
So the goal position lives exactly in channel 1 of ``encoder.hook_out``, and no other encoder unit depends
on it. The dense layer and the heads on top are trained by behaviour cloning of the shortest-path policy.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mirl.hooked import HookedAgent, HookPoint
from mirl.seeding import seed_everything

from . import env as grid

ENCODER_CHANNELS = 8
HIDDEN = 48
AGENT_CHANNEL, GOAL_CHANNEL = 0, 1
GAMMA = 0.9


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


def behaviour_targets() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every state, its shortest-path action distribution and its discounted return under that policy."""
    pairs = grid.all_pairs()
    agent, goal = grid.cells_to_positions(pairs[:, 0]), grid.cells_to_positions(pairs[:, 1])
    best = grid.optimal_actions(agent, goal).astype(np.float32)
    policy = best / best.sum(axis=1, keepdims=True)
    value = GAMMA ** (grid.manhattan(agent, goal) - 1).astype(np.float32)
    return grid.observe(agent, goal), policy, value


def train(seed: int = 0, steps: int = 600, lr: float = 1e-2) -> tuple[SmokeAgent, dict]:
    """Behaviour cloning of the shortest-path policy on every state (full batch); seconds on a CPU."""
    started = time.perf_counter()
    rng = seed_everything(seed)
    torch.manual_seed(seed)
    agent = SmokeAgent()
    plant_encoder(agent.encoder, rng)
    obs, policy, value = (torch.from_numpy(a) for a in behaviour_targets())
    params = [p for p in agent.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        logits, v = agent(obs)
        policy_loss = -(policy * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
        value_loss = ((v - value) ** 2).mean()
        optimizer.zero_grad()
        (policy_loss + value_loss).backward()
        optimizer.step()
    card = {
        "id": "smoke-bc",
        "family": "smoke",
        "architecture": "planted conv encoder (2→8, 3×3, fixed) → dense 392→48 → policy 4 / value 1",
        "parameters": sum(p.numel() for p in agent.parameters()),
        "trained_parameters": sum(p.numel() for p in params),
        "training": "behaviour cloning of the shortest-path policy on all 2,352 states, full batch, Adam",
        "config": {"seed": seed, "steps": steps, "lr": lr, "gamma": GAMMA, "size": grid.SIZE},
        "final_policy_loss": round(policy_loss.item(), 5),
        "final_value_loss": round(value_loss.item(), 6),
        "wall_seconds": round(time.perf_counter() - started, 2),
        "hardware": "CPU",
    }
    agent.eval()
    return agent, card


@torch.no_grad()
def greedy_success(agent: SmokeAgent) -> tuple[float, float]:
    """(fraction of all start states solved by the greedy policy, fraction solved in the shortest number of steps)."""
    pairs = grid.all_pairs()
    pos, goal = grid.cells_to_positions(pairs[:, 0]), grid.cells_to_positions(pairs[:, 1])
    shortest = grid.manhattan(pos, goal)
    steps = np.zeros(len(pos), dtype=np.int64)
    done = np.zeros(len(pos), dtype=bool)
    for _ in range(grid.MAX_STEPS):
        logits, _ = agent(torch.from_numpy(grid.observe(pos, goal)))
        pos = np.where(done[:, None], pos, grid.move(pos, logits.argmax(1).numpy()))
        steps += ~done
        done |= np.all(pos == goal, axis=1)
    return float(done.mean()), float((done & (steps == shortest)).mean())


def ship(folder: Path, seed: int = 0) -> dict:
    """Train the agent, write its checkpoint and card into ``folder``, return the card."""
    import hashlib

    agent, card = train(seed)
    solved, optimal = greedy_success(agent)
    card["greedy_success_all_states"] = solved
    card["greedy_shortest_path_all_states"] = optimal
    card["behavioural_facts"] = [
        "encoder.hook_out channel 1 is an exact copy of the goal plane (planted); no other encoder unit "
        "depends on the goal",
        "the greedy policy follows a shortest path to the goal from every start state "
        f"({optimal:.1%} of states)",
    ]
    path = folder / "smoke-bc.pt"
    torch.save(agent.state_dict(), path)
    card["checkpoint"] = path.name
    card["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "smoke-bc.card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


if __name__ == "__main__":  # python -m mirl.tasks.smoke.agent: retrain and rewrite the shipped files
    print(json.dumps(ship(Path(__file__).parent), indent=2))
