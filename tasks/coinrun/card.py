"""The card of `coinrun-ppo`: completion on training and held-out levels, how held-out episodes end with the
coin moved (the goal-misgeneralisation facts the tasks rely on) and the probe controls of the tasks."""

from __future__ import annotations

import numpy as np
import torch

from mirl.interventions import run_episodes
from mirl.seeding import seed_everything

from .agent import build
from .env import HELD_OUT_START, TRAIN_LEVELS, CoinRunVecEnv
from .tasks import moved_coin_env, outcome_rates, probe_controls


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
    out = run_episodes(agent, moved_coin_env("test", seed), episodes, seed=seed, greedy=False)
    return outcome_rates(out.final_info["outcome"])


def evaluate(agent) -> dict:
    train = completion(agent, TRAIN_LEVELS[0], TRAIN_LEVELS[1])
    held_out = completion(agent, HELD_OUT_START, 100_000)
    moved = moved_coin_outcomes(agent)
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
