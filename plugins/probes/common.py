"""What the per-state probes share: the train split with one integer label per state, a held-out fifth for
choosing settings, and turning fitted multinomial weights into the task's answer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mirl.errors import MirlError
from mirl.schemas import Prediction, Readout

HOLDOUT = 0.2


@dataclass
class LabelledSplit:
    activations: dict[str, np.ndarray]  # hook → [n, features] float
    labels: np.ndarray  # [n] int, or [n, G] (per column; −1 left out); continuous: [n, outputs] float
    outputs: int  # the answer's output size (1: a prediction's log-odds)
    classes: int  # classes the logistic fit needs (≥ 2)
    fit: np.ndarray  # rows for fitting while choosing settings
    val: np.ndarray  # the held-out rows that choose them


def labelled_split(view, method: str, hooks: list[str] | None = None, per_column: bool = False,
                   continuous: bool = False) -> LabelledSplit:
    """The whole train split at ``hooks`` (default: every offered hook point but the observation, unless it is
    all there is). ``per_column``: the method also takes labels [N, G] (one class per column, e.g. per square,
    −1 where left out; the task's outputs laid out column × class), and ``classes`` is per column.
    ``continuous``: the method regresses a real-valued target, kept as [N, outputs] floats (``classes`` 0)."""
    if hooks is None:
        hooks = [h for h in view.hook_points if h != "hook_obs"] or list(view.hook_points)
    data = view.train_data(hooks=hooks)
    labels = np.asarray(data.labels[view.spec.target])
    is_continuous = np.issubdtype(labels.dtype, np.floating) and not np.array_equal(labels, np.round(labels))
    order = view.rng.permutation(len(labels))
    cut = int(len(labels) * (1 - HOLDOUT))
    activations = {h: np.asarray(data.activations[h]).reshape(len(labels), -1) for h in hooks}
    if continuous:
        if not np.issubdtype(labels.dtype, np.floating):
            raise MirlError(f"{method} regresses a continuous target; {view.spec.id}'s {view.spec.target!r} is "
                            f"{labels.dtype} (classes): use linear-probe")
        labels = labels.astype(np.float64).reshape(len(labels), -1)
        return LabelledSplit(activations, labels, labels.shape[1], 0, order[:cut], order[cut:])
    if is_continuous:
        raise MirlError(f"{method} decodes classes; {view.spec.id}'s {view.spec.target!r} is continuous: use "
                        "ridge-probe")
    labels = labels.astype(np.int64)
    if labels.ndim != 1 and not (per_column and labels.ndim == 2 and view.spec.output_dim
                                 and view.spec.output_dim % labels.shape[1] == 0):
        raise MirlError(f"{method} decodes one label per state; {view.spec.id}'s {view.spec.target!r} has shape "
                        f"{list(labels.shape)} (one per square): use conv-probe or linear-probe")
    outputs = view.spec.output_dim or int(labels.max()) + 1
    classes = outputs // labels.shape[1] if labels.ndim == 2 else max(outputs, 2)
    return LabelledSplit(activations, labels, outputs, classes, order[:cut], order[cut:])


def decoder_answer(view, hook: str, weights: np.ndarray, bias: np.ndarray, outputs: int):
    """A Readout, or a Prediction (one output: the log-odds of class 1, w₁ − w₀ and b₁ − b₀)."""
    if view.answer_kind == "prediction":
        if outputs == 1:
            return Prediction(weights={hook: (weights[:, 1] - weights[:, 0])[:, None]},
                              bias=np.array([bias[1] - bias[0]]))
        return Prediction(weights={hook: weights}, bias=bias)
    return Readout(weights={hook: weights}, bias=bias)
