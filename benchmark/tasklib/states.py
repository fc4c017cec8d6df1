"""Labelled states from the agent's own play: what readout tasks decode and methods train on."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mirl.seeding import derive_seed
from mirl.task import TrainData


def pick_states(rollouts: Any, keep: np.ndarray, n: int, seed: int) -> TrainData:
    """Up to ``n`` of the steps of ``rollouts`` (``mirl.rollouts.Rollouts``) where ``keep`` [steps, envs] is set,
    shuffled with ``seed``: observations, the env's labels and the action taken (``action``), and float32
    activations."""
    rows = np.random.default_rng(derive_seed(seed, "states")).permutation(int(keep.sum()))[:n]

    def pick(a: Any) -> np.ndarray:
        return np.asarray(a)[keep][rows]

    labels = {k: pick(v) for k, v in rollouts.labels.items()}
    labels["action"] = pick(rollouts.actions)
    return TrainData(obs=pick(rollouts.obs), labels=labels,
                     activations={h: pick(a).astype(np.float32) for h, a in rollouts.activations.items()})


def sample_states(agent: Any, env: Any, n: int, hooks: list[str], seed: int, stride: int) -> TrainData:
    """``n`` states of the agent playing ``env`` (sampled actions, seeded): every ``stride``-th step of every env
    (neighbouring steps are nearly the same state), shuffled."""
    from mirl.rollouts import collect

    steps = math.ceil(n * stride / env.num_envs) + 1
    rollouts = collect(agent, env, episodes=10**9, hooks=hooks, seed=seed % 2**31, max_steps=steps)
    keep = np.zeros(rollouts.actions.shape, dtype=bool)
    keep[::stride] = True
    return pick_states(rollouts, keep, n, seed)
