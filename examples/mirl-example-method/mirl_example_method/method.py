"""A nearest-class-mean decoder, chosen per hook point on a held-out part of the train split."""

from __future__ import annotations

import numpy as np

from mirl.method import Method
from mirl.schemas import MethodInfo, Prediction, Readout

# Classes absent from the train split get this bias, so they are never predicted (answers must be finite).
ABSENT_CLASS_BIAS = -1e6


def class_mean_decoder(x: np.ndarray, y: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    weights = np.zeros((x.shape[1], classes))
    bias = np.full(classes, ABSENT_CLASS_BIAS)
    for k in np.unique(y):
        mean = x[y == k].mean(axis=0)
        weights[:, k] = mean
        bias[k] = -0.5 * mean @ mean
    return weights, bias


class ClassMeans(Method):
    info = MethodInfo(
        name="class-means",
        version="0.1.0",
        answer_kinds=["readout", "prediction"],
        description="Nearest-class-mean linear decoder on the best hook point (example plugin)",
    )

    def solve(self, view):
        classes = view.spec.output_dim
        data = view.train_data()
        y = data.labels[view.spec.target].astype(np.int64)
        order = view.rng.permutation(len(y))
        held_out, fit = order[: len(y) // 5], order[len(y) // 5:]
        best = None
        for hook in sorted(data.activations):
            x = data.activations[hook].reshape(len(y), -1).astype(np.float64)
            w, b = class_mean_decoder(x[fit], y[fit], classes)
            accuracy = float(np.mean((x[held_out] @ w + b).argmax(1) == y[held_out]))
            if best is None or accuracy > best[0]:
                best = (accuracy, hook)
        hook = best[1]
        x = data.activations[hook].reshape(len(y), -1).astype(np.float64)
        w, b = class_mean_decoder(x, y, classes)  # refit on the whole train split
        model = Readout if view.answer_kind == "readout" else Prediction
        return model(weights={hook: w}, bias=b)
