"""The doorkey agents. ``doorkey-ppo``: a grid CNN trained naturally with mirl's PPO on DoorKey-8x8.
``doorkey-planted`` and ``doorkey-planted-subspace``: the same architecture (so the same hook names mean the same
layers), distilled from the BFS expert with has_key planted by IIT in channels 0–3 of ``encoder.conv1`` (with
decoys 4–7), or in a rotated 4-dimensional subspace of it (``planted.py``).

Hook points: ``encoder.conv{0,1,2}.hook_out`` [32, 6, 6] (post-ReLU, square-aligned), ``dense.hook_out`` [128].
"""

from __future__ import annotations

import functools
from pathlib import Path

from mirl.agents import AgentSpec
from mirl.nets import GridCNN
from mirl.ppo import PPOConfig

from . import env as doorkey

SIZE = 8
INNER = SIZE - 2
CHANNELS, LAYERS, HIDDEN = 32, 3, 128

CONFIG = PPOConfig(
    total_steps=10_000_000, num_envs=32, num_steps=128, learning_rate=5e-4, anneal_lr=True, gamma=0.99,
    gae_lambda=0.95, num_minibatches=4, update_epochs=4, clip_coef=0.2, ent_coef=0.01, vf_coef=0.5,
    max_grad_norm=0.5, reward_scaling=False, seed=0, checkpoints=10, save_every_seconds=120.0, log_every=10,
)


def build() -> GridCNN:
    return GridCNN(in_channels=doorkey.PLANES, size=INNER, num_actions=doorkey.NUM_ACTIONS, channels=CHANNELS,
                   layers=LAYERS, hidden=HIDDEN)


def make_env(num_envs: int, seed: int) -> doorkey.DoorKeyVecEnv:
    return doorkey.DoorKeyVecEnv(num_envs, size=SIZE, seed=seed, split="train")


ARCHITECTURE = (f"grid CNN: {LAYERS} × conv 3×3 ({CHANNELS}, padding 1, keeps {INNER}×{INNER}) → dense {HIDDEN} → "
                f"policy {doorkey.NUM_ACTIONS} / value 1")


def spec(evaluate=None) -> AgentSpec:
    """``evaluate``: the card's measure (``card.evaluate``, attached where the family registers its agents)."""
    return AgentSpec(
        id="doorkey-ppo", family="doorkey", folder=Path(__file__).parent, checkpoint="doorkey-ppo.pt",
        card="doorkey-ppo.card.json", build=build, make_agent=lambda seed: build(), make_env=make_env,
        config=CONFIG, evaluate=evaluate, architecture=ARCHITECTURE,
    )


# ----------------------------------------------------------------------------------------------------
# Planted agents

PLANTED_IDS = {"channels": "doorkey-planted", "subspace": "doorkey-planted-subspace"}
def planted_spec(plant: str, evaluate=None) -> AgentSpec:
    """``evaluate(agent, plant)``: the planted card's measure (``card.evaluate_planted``)."""
    from .planted import PlantConfig, train_plant

    agent_id = PLANTED_IDS[plant]
    return AgentSpec(
        id=agent_id, family="doorkey", folder=Path(__file__).parent, checkpoint=f"{agent_id}.pt",
        card=f"{agent_id}.card.json", build=build, make_agent=lambda seed: build(), make_env=make_env,
        config=PlantConfig(plant=plant),
        evaluate=None if evaluate is None else functools.partial(evaluate, plant=plant),
        architecture=ARCHITECTURE, trainer=train_plant, ship_snapshots=0,
        training="distilled from the BFS expert (soft targets over its optimal actions) with interchange-"
                 "intervention training, an exclusivity term" + (" and a decoy decoding term" if plant == "channels"
                                                                 else "") + " (mirl.tasks.doorkey.planted)",
    )
