"""The card of `lake-ppo`: how often it reaches the goal on held-out maps."""

from __future__ import annotations

from mirl.interventions import run_episodes

from . import env as lake
from .agent import spec

EPISODES = 1000


def evaluate(agent) -> dict:
    rates = {}
    for split in ("train", "test"):
        for greedy in (True, False):
            out = run_episodes(agent, lake.vec_env(64, 0, split), EPISODES, seed=1, greedy=greedy)
            rates[f"success_{split}_{'greedy' if greedy else 'sampled'}"] = float((out.returns > 0).mean())
    return {"metrics": rates, "behavioural_facts": [
        f"reaches the goal on {rates['success_test_greedy']:.1%} of {EPISODES} held-out maps (greedy), "
        f"{rates['success_test_sampled']:.1%} with sampled actions"]}


def agent_specs() -> list:
    return [spec(evaluate)]
