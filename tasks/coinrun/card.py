"""The card of `coinrun-ppo`: completion on training and held-out levels, how held-out episodes end with the
coin moved (the goal-misgeneralisation facts the tasks rely on) and the probe controls of the tasks."""

from __future__ import annotations

from mirl.interventions import run_episodes
from mirl.seeding import seed_everything

from .agent import build
from .env import HELD_OUT_START, TRAIN_LEVELS, CoinRunVecEnv
from .tasks import moved_coin_env, outcome_rates, probe_controls


def completion(agent, start_level: int, num_levels: int, episodes: int = 1000, seed: int = 0) -> dict:
    """Fraction of ``episodes`` episodes (sampled actions) that collect the coin, and the mean return. The
    episodes counted are the first ``episodes`` to start (``run_episodes``): counting the first to finish would
    over-represent short episodes, which end at the coin more often."""
    env = CoinRunVecEnv(64, seed=seed, start_level=start_level, num_levels=num_levels)
    out = run_episodes(agent, env, episodes, seed=seed, greedy=False, record_labels=False)
    return {"completion": float(out.final_info["level_complete"].mean()), "mean_return": float(out.returns.mean())}


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


def agent_specs() -> list:
    """The family's agents as it registers them: their specs with this card's measure."""
    from .agent import spec

    return [spec(evaluate)]
