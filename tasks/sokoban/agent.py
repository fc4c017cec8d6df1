"""The Sokoban agents: ``sokoban-drc`` (a DRC(2,2): Guez et al. 2019's DRC at 2 layers × 2 ticks) and
``sokoban-ff`` (a feed-forward grid CNN of similar size), trained with mirl's PPO on 6×6-interior boards through
a curriculum from 1 to 2 boxes.

Training levels come from fixed pools (``env.level_pool``), the same on every machine.
"""

from __future__ import annotations

from pathlib import Path

from mirl.agents import AgentSpec
from mirl.nets import DRC, GridCNN
from mirl.ppo import PPOConfig

from . import env as sokoban
from .sizes import DRC_CHANNELS, DRC_DEPTH, DRC_TICKS, HIDDEN, INTERIOR

# DRC(2,2) with 16 channels (sizes.py), sized for 2 CPU cores (~590 env steps/s in the
# feasibility probe). DRC(3,3) with 32 channels was tried on a lent H200: PPO with 8 minibatches × 2 epochs per
# 10,240 samples is latency-bound there (each BPTT pass is 20 sequential steps of 9 ConvLSTM ticks) and ran
# 3,300 steps/s, 1.5 M steps in 8 minutes, before the feed-forward baseline's learning point (~7 M steps at
# these settings).
FF_CHANNELS, FF_LAYERS = 64, 6
# Curriculum: a quarter of the first episodes are 2-box levels, rising to all of them after this many episodes.
MIX_START, MIX_EPISODES = 0.25, 60_000

# PPO for the recurrent agent, as the feasibility probe's run that learned (64 envs × 16 steps, 2 epochs × 2
# minibatches: ~4 gradient steps per 1,000 samples; rewards × 0.1); at ~0.5 per 1,000 nothing was learned.
DRC_CONFIG = PPOConfig(
    total_steps=10_000_000, num_envs=64, num_steps=16, learning_rate=7e-4, anneal_lr=True, gamma=0.99,
    gae_lambda=0.95, num_minibatches=2, update_epochs=2, clip_coef=0.2, ent_coef=0.02, vf_coef=0.5,
    max_grad_norm=0.5, reward_scaling=False, reward_scale=0.1, seed=0, checkpoints=10, save_every_seconds=120.0,
    log_every=50,
)
# The feed-forward baseline was trained on a lent H200 GPU (70,000 steps/s: a feed-forward pass is one batched
# call), with settings sized for it: 512 envs × 20 steps, 8 minibatches × 2 epochs, for what 8 minutes allowed.
FF_CONFIG = PPOConfig(
    total_steps=30_679_040, num_envs=512, num_steps=20, learning_rate=4e-4, anneal_lr=True, gamma=0.97,
    gae_lambda=0.95, num_minibatches=8, update_epochs=2, clip_coef=0.2, ent_coef=0.01, vf_coef=0.5,
    max_grad_norm=0.5, reward_scaling=False, reward_scale=0.1, seed=0, checkpoints=5, save_every_seconds=60.0,
    log_every=20,
)


def build_drc() -> DRC:
    return DRC(in_channels=7, size=INTERIOR, num_actions=4, depth=DRC_DEPTH, ticks=DRC_TICKS,
               channels=DRC_CHANNELS, hidden=HIDDEN)


def build_ff() -> GridCNN:
    return GridCNN(in_channels=7, size=INTERIOR, num_actions=4, channels=FF_CHANNELS, layers=FF_LAYERS, hidden=HIDDEN)


def make_env(num_envs: int, seed: int) -> sokoban.SokobanVecEnv:
    """Training boards: 1-box levels with 2-box levels mixed in at a rising rate (the curriculum)."""
    return sokoban.SokobanVecEnv(num_envs, sokoban.level_pool("train", 1), seed=seed, mix=sokoban.level_pool("train", 2),
                                 mix_start=MIX_START, mix_episodes=MIX_EPISODES)


def spec_drc(evaluate=None) -> AgentSpec:
    """``evaluate``: the card's measure (``card.evaluate``, attached where the family registers its agents)."""
    return AgentSpec(
        id="sokoban-drc", family="sokoban", folder=Path(__file__).parent, checkpoint="sokoban-drc.pt",
        card="sokoban-drc.card.json", build=build_drc, make_agent=lambda seed: build_drc(), make_env=make_env,
        config=DRC_CONFIG, evaluate=evaluate,
        architecture=f"DRC({DRC_DEPTH},{DRC_TICKS}): encoder 2 × conv 3×3 ({DRC_CHANNELS}) → {DRC_DEPTH} ConvLSTM "
        f"layers ({DRC_CHANNELS} ch, 3×3, pool-and-inject) × {DRC_TICKS} ticks per step → dense {HIDDEN} "
        f"(top h ⊕ encoding) → policy 4 / value 1, on the 6×6 interior",
        ship_snapshots=5,
    )


def spec_ff(evaluate=None) -> AgentSpec:
    return AgentSpec(
        id="sokoban-ff", family="sokoban", folder=Path(__file__).parent, checkpoint="sokoban-ff.pt",
        card="sokoban-ff.card.json", build=build_ff, make_agent=lambda seed: build_ff(), make_env=make_env,
        config=FF_CONFIG, evaluate=evaluate,
        architecture=f"grid CNN: {FF_LAYERS} × conv 3×3 ({FF_CHANNELS}, padding 1) → dense {HIDDEN} → policy 4 / "
        "value 1 (no state: the feed-forward baseline)",
        notes=["trained on a lent NVIDIA H200 GPU (torch 2.11.0+cu130, cuDNN deterministic, seed 0) by "
               "`python -m mirl.tasks.sokoban.train_budget --agent sokoban-ff --device cuda --seconds 500`; "
               "'hardware' is the machine that measured this card. Retraining on a CPU from the same seed gives "
               "other weights (other floating-point order), so the pinned sha256 is what identifies this agent"],
        ship_snapshots=0,
    )
