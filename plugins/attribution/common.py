"""What the unit-scoring methods share: the shape of a unit score, and the agent's own rollout in the train
environments (sampled actions; recurrent agents carry their state), sized to the task's forward-pass budget."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from mirl import units

ROLLOUT_ENVS, ROLLOUT_STEPS = 32, 16  # the rollout (at most): envs × steps states


def unit_shape(view, hook: str) -> tuple[int, ...]:
    """The shape of ``hook``'s scores: the hook's own, or [units] where the task scores channels, heads or
    neurons (``mirl.units``)."""
    return units.unit_shape(view.spec.unit_level, hook, view.hook_points[hook])


def unit_index(view, hook: str, unit: int) -> tuple:
    """Unit ``unit`` of ``hook`` (flat, in ``unit_shape`` order) as an index into a [B, *shape] batch."""
    return units.unit_index(view.spec.unit_level, hook, view.hook_points[hook], unit)


def affordable_steps(view, rows_per_state: int) -> int:
    """Rollout steps (2 to ROLLOUT_STEPS) whose ``rows_per_state`` forward rows per state fit in nine tenths of
    the task's forward-pass budget (and its env steps)."""
    budget = view.spec.budget
    steps = min(0.9 * budget.forward_passes // (rows_per_state * ROLLOUT_ENVS),
                0.9 * budget.env_steps // ROLLOUT_ENVS)
    return int(np.clip(steps, 2, ROLLOUT_STEPS))


def play(view, steps: int, act: Callable[[Any, Any], Any]) -> None:
    """Run ROLLOUT_ENVS train envs for ``steps`` steps. ``act(obs [B, ...], starts [B] bool)`` (torch tensors)
    returns the policy's logits, with whatever it records on the way; actions are sampled from them with a
    generator seeded from ``view.rng``. The caller's ``act`` carries a recurrent agent's state."""
    import torch

    env = view.make_env(ROLLOUT_ENVS)
    x, _ = env.reset(seed=int(view.rng.integers(2**31)))
    generator = torch.Generator().manual_seed(int(view.rng.integers(2**31)))
    starts = np.ones(ROLLOUT_ENVS, dtype=bool)
    for t in range(steps):
        logits = act(torch.from_numpy(np.asarray(x)), torch.from_numpy(starts.copy()))
        if t == steps - 1:
            break  # the last observation needs no successor
        probs = torch.softmax(logits.detach().float(), -1)
        actions = torch.multinomial(probs, 1, generator=generator).squeeze(1).numpy()
        x, _, terminated, truncated, _ = env.step(actions)
        starts = np.asarray(terminated) | np.asarray(truncated)
