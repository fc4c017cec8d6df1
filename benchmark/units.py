"""What a unit is, for ``unit_scores`` tasks: one element of an activation, one channel of a conv layer, one
attention head, one neuron. A task declares its ``unit_level``; each hook point then has a unit axis (the
per-example axis whose entries are the units), and everything that scores, pools or edits units goes through
these functions, so a method written for channels works on heads.

Head axes follow TransformerLens: ``attn.hook_q/k/v/z/result`` are [pos, head, d_head] (heads on the
second-to-last axis), ``attn.hook_pattern`` / ``hook_attn_scores`` are [head, query pos, key pos] (the first).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

UNIT_LEVELS = ("element", "channel", "head", "neuron")
HEAD_LAST_BUT_ONE = ("hook_q", "hook_k", "hook_v", "hook_z", "hook_result")
HEAD_FIRST = ("hook_pattern", "hook_attn_scores")


def unit_axis(level: str, hook: str, shape: Sequence[int]) -> int | None:
    """The per-example axis of ``hook``'s units at ``level`` (None: every element is a unit); a one-line error
    where the hook has no such units."""
    if level not in UNIT_LEVELS:
        raise ValueError(f"unit level {level!r} is not one of {list(UNIT_LEVELS)}")
    if level == "element":
        return None
    if not shape:
        raise ValueError(f"{hook} is a scalar per example; it has no {level} units")
    if level == "channel":
        return 0
    if level == "neuron":
        return len(shape) - 1
    leaf = hook.rsplit(".", 1)[-1].split("@")[0]  # a view (``@read``) has its hook point's axes but positions
    if leaf in HEAD_LAST_BUT_ONE and len(shape) >= 2:
        return len(shape) - 2
    if leaf in HEAD_FIRST:
        return 0
    raise ValueError(f"{hook} has no attention heads; head units are scored at attn.hook_q / hook_k / hook_v / "
                     "hook_z / hook_result / hook_pattern")


def unit_shape(level: str, hook: str, shape: Sequence[int]) -> tuple[int, ...]:
    """The shape of ``hook``'s unit scores: the hook's own, or [units]."""
    axis = unit_axis(level, hook, shape)
    return tuple(shape) if axis is None else (int(shape[axis]),)


def pool(x: np.ndarray, level: str, hook: str, reduce: str = "mean") -> np.ndarray:
    """``x`` [N, *shape] as [N, units]: each unit's ``reduce`` ("mean" or "sum") over the rest of its axes, or,
    for element units, flattened."""
    shape = x.shape[1:]
    axis = unit_axis(level, hook, shape)
    if axis is None:
        return x.reshape(len(x), -1)
    moved = np.moveaxis(x, 1 + axis, 1)
    rest = moved.reshape(len(x), shape[axis], -1)
    return rest.mean(2) if reduce == "mean" else rest.sum(2)


def unit_index(level: str, hook: str, shape: Sequence[int], unit: int) -> tuple:
    """The index of unit ``unit`` (flat, in ``unit_shape`` order) into a [B, *shape] batch of activations."""
    axis = unit_axis(level, hook, shape)
    if axis is None:
        return (slice(None), *np.unravel_index(unit, tuple(shape)))
    if not 0 <= unit < shape[axis]:
        raise IndexError(f"unit {unit} is outside {hook}'s {shape[axis]} {level}s")
    return (slice(None),) * (1 + axis) + (int(unit),)
