"""The CoinRun agent `coinrun-ppo`: a strided CNN trained with mirl's PPO on stock CoinRun (coin at the end)."""

from __future__ import annotations

from pathlib import Path

from mirl.agents import AgentSpec
from mirl.nets import StridedCNN
from mirl.ppo import PPOConfig

from .env import TRAIN_LEVELS, CoinRunVecEnv

# CleanRL's procgen settings, except a smaller network (see StridedCNN) so that 2 CPU cores suffice.
CONFIG = PPOConfig(
    total_steps=4_500_000, num_envs=64, num_steps=256, learning_rate=5e-4, anneal_lr=True, gamma=0.999,
    gae_lambda=0.95, num_minibatches=8, update_epochs=3, clip_coef=0.2, ent_coef=0.01, vf_coef=0.5,
    max_grad_norm=0.5, reward_scaling=True, seed=0, checkpoints=12, save_every_seconds=300.0, log_every=10,
)


def build() -> StridedCNN:
    return StridedCNN(obs_shape=(3, 64, 64), num_actions=15)


def make_agent(seed: int) -> StridedCNN:
    return build()  # seed_everything(seed) has run before this, so the init is seeded


def make_env(num_envs: int, seed: int) -> CoinRunVecEnv:
    return CoinRunVecEnv(num_envs, seed=seed, start_level=TRAIN_LEVELS[0], num_levels=TRAIN_LEVELS[1])


def spec(evaluate=None) -> AgentSpec:
    """``evaluate``: the card's measure (``card.evaluate``, attached where the family registers its agents)."""
    return AgentSpec(
        id="coinrun-ppo", family="coinrun", folder=Path(__file__).parent, checkpoint="coinrun-ppo.pt",
        card="coinrun-ppo.card.json", build=build, make_agent=make_agent, make_env=make_env, config=CONFIG,
        evaluate=evaluate, architecture="strided CNN: conv 8×8/4 (32) → 4×4/2 (64) → 3×3/1 (64) → dense 256 → "
        "policy 15 / value 1",
    )
