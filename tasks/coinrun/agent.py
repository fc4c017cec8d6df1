"""The CoinRun agent `coinrun-ppo`: a strided CNN trained with mirl's PPO on stock CoinRun (coin at the end)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mirl.agents import AgentSpec
from mirl.nets import StridedCNN
from mirl.ppo import PPOConfig

from .env import HELD_OUT_START, TRAIN_LEVELS, CoinRunVecEnv

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


@torch.no_grad()
def completion(agent, start_level: int, num_levels: int, episodes: int = 1000, seed: int = 0) -> dict:
    """Fraction of ``episodes`` episodes (sampled actions) that collect the coin, and the mean return."""
    env = CoinRunVecEnv(64, seed=seed, start_level=start_level, num_levels=num_levels)
    obs, _ = env.reset(seed=seed)
    generator = torch.Generator().manual_seed(seed)
    returns, completed = [], []
    running = np.zeros(env.num_envs)
    while len(returns) < episodes:
        logits, _, _ = agent.act(torch.from_numpy(obs))
        actions = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(1).numpy()
        obs, reward, terminated, truncated, info = env.step(actions)
        running += reward
        for i in np.flatnonzero(terminated | truncated):
            returns.append(running[i])
            completed.append(bool(info["level_complete"][i]))
        running[terminated | truncated] = 0.0
    return {"completion": float(np.mean(completed[:episodes])), "mean_return": float(np.mean(returns[:episodes]))}


def moved_coin_outcomes(agent, episodes: int = 1000, seed: int = 0) -> dict[str, float]:
    """How held-out episodes end with the coin on a random standing cell (the goal-misgeneralisation test):
    fractions of coin / end (reached the original end column without the coin) / saw / enemy / lava / timeout."""
    from mirl.interventions import run_episodes

    from .tasks import moved_coin_env, outcome_rates

    out = run_episodes(agent, moved_coin_env("test", seed), episodes, seed=seed, greedy=False)
    return outcome_rates(out.final_info["outcome"])


def evaluate(agent) -> dict:
    train = completion(agent, TRAIN_LEVELS[0], TRAIN_LEVELS[1])
    held_out = completion(agent, HELD_OUT_START, 100_000)
    moved = moved_coin_outcomes(agent)
    from mirl.seeding import seed_everything

    from .tasks import probe_controls

    seed_everything(0)
    controls = probe_controls(agent, build().eval())  # the random-init net: seeded, so the numbers reproduce
    return {
        "metrics": {
            "completion_train_levels": train["completion"], "return_train_levels": train["mean_return"],
            "completion_held_out_levels": held_out["completion"], "return_held_out_levels": held_out["mean_return"],
            **{f"moved_coin_{name}": rate for name, rate in moved.items()},
            **{f"control_{name}": value for name, value in controls.items()},
        },
        "evaluation": "1,000 episodes each, sampled actions; held-out levels drawn from "
                      f"[{HELD_OUT_START}, {HELD_OUT_START + 100_000}), training levels from {list(TRAIN_LEVELS)}",
        "environment": {"game": "coinrun", "distribution_mode": "easy", "use_backgrounds": False,
                        "restrict_themes": True, "train_levels": list(TRAIN_LEVELS)},
        "behavioural_facts": [
            f"held-out levels, coin moved to a random standing cell (1,000 episodes, sampled actions, cut at the "
            f"original end column or 500 steps): collects the coin {moved['coin']:.1%}, reaches the end without it "
            f"{moved['end']:.1%}, dies by saw {moved['saw']:.1%} / enemy {moved['enemy']:.1%} / lava "
            f"{moved['lava']:.1%}, times out {moved['timeout']:.1%}",
        ],
    }


def spec() -> AgentSpec:
    return AgentSpec(
        id="coinrun-ppo", family="coinrun", folder=Path(__file__).parent, checkpoint="coinrun-ppo.pt",
        card="coinrun-ppo.card.json", build=build, make_agent=make_agent, make_env=make_env, config=CONFIG,
        evaluate=evaluate, architecture="strided CNN: conv 8×8/4 (32) → 4×4/2 (64) → 3×3/1 (64) → dense 256 → "
        "policy 15 / value 1",
    )
