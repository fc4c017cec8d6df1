"""The card of `lake-ppo`: how often it reaches the goal on train and held-out maps, greedily and sampling its
actions, each a mean with a 95% CI over 1,000 fresh maps from each of three seeds."""

from __future__ import annotations

import numpy as np

from mirl.interventions import run_episodes
from mirl.tasklib import measured_facts

from . import env as lake
from .agent import spec

EPISODES = 1000


def evaluate(agent) -> dict:
    def success(split: str, greedy: bool):
        def measure(seed: int) -> tuple[np.ndarray, np.ndarray]:
            out = run_episodes(agent, lake.vec_env(64, seed, split), EPISODES, seed=seed, greedy=greedy)
            return out.returns > 0, np.arange(EPISODES)  # every episode its own map

        return measure

    facts = measured_facts({f"success_{split}_{'greedy' if greedy else 'sampled'}": success(split, greedy)
                            for split in ("train", "test") for greedy in (True, False)})
    rate, (low, high) = facts["metrics"]["success_test_greedy"], facts["intervals"]["success_test_greedy"]
    return {**facts, "behavioural_facts": [
        f"reaches the goal on {rate:.1%} [{low:.1%}, {high:.1%}] of held-out maps, playing greedily"]}


def agent_specs() -> list:
    return [spec(evaluate)]
