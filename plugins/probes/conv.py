"""`conv-probe`: a spatial probe for per-square targets (Bush et al. 2025's 1×1 and 3×3 convolutional probes).

For tasks whose target labels one class per board square (labels [N, G·H·W]: G maps of H×W squares, −1 where
a square is left out) and whose output layout is (map, square, class). One logistic regression per map, shared
by every square, reads the k×k neighbourhood of every channel of every offered spatial hook point; k ∈ {1, 3}
is chosen on a held-out fifth of (up to 1,500 states of) the train split (balanced accuracy over labelled
squares), then the probe is refitted on all of it and written out as the dense decoder a ``Readout`` holds.
"""

from __future__ import annotations

import numpy as np

from mirl.errors import MirlError
from mirl.method import Method
from mirl.probes import conv_probe_as_dense, conv_probe_logits, fit_conv_probe
from mirl.schemas import MethodInfo, Readout
from mirl.scoring import balanced_accuracy

KERNELS = (1, 3)
HOLDOUT = 0.2
SELECTION_STATES = 1500  # the kernel is chosen on at most this many states (each holds H·W samples)
L2 = 1e-3


class ConvProbe(Method):
    info = MethodInfo(
        name="conv-probe",
        version="2",
        answer_kinds=["readout"],
        families=["sokoban"],
        description="Spatial logistic probe shared across squares (1×1 or 3×3 over the channels of every offered "
        "spatial hook point), for per-square targets such as Sokoban plans (Bush et al. 2025)",
        references=["Bush et al. 2025, Interpreting Emergent Planning in Model-Free Reinforcement Learning "
                    "(arXiv 2504.01871)"],
        hyperparameters={"kernels": list(KERNELS), "l2": L2, "holdout_fraction": HOLDOUT,
                         "selection_states": SELECTION_STATES, "selection": "balanced accuracy",
                         "optimiser": "L-BFGS, 100 steps", "hooks": "every offered hook point of shape [C, H, W]"},
        compute="the task's whole train split (its forward passes) and (kernels + 1) logistic fits per label map",
    )

    def solve(self, view):
        hooks = [h for h, shape in view.hook_points.items() if len(shape) == 3]
        if not hooks:
            raise MirlError(f"conv-probe needs spatial hook points [C, H, W]; {view.spec.id} offers none")
        channels = [view.hook_points[h][0] for h in hooks]
        height, width = view.hook_points[hooks[0]][1:]
        squares = height * width
        data = view.train_data(hooks=hooks)
        labels = np.asarray(data.labels[view.spec.target]).astype(np.int64)
        if labels.ndim != 2 or labels.shape[1] % squares:
            raise MirlError(f"conv-probe is for per-square targets (labels [N, maps × {squares}]); "
                            f"{view.spec.id}'s {view.spec.target!r} has shape {list(labels.shape)}")
        maps = labels.shape[1] // squares
        classes = view.spec.output_dim // labels.shape[1]
        acts = [data.activations[h] for h in hooks]
        order = view.rng.permutation(len(labels))[:SELECTION_STATES]
        cut = int(len(order) * (1 - HOLDOUT))
        fit, val = order[:cut], order[cut:]
        best = None
        for kernel in KERNELS:
            # balanced accuracy, not accuracy: per-square plans are mostly "never", which a 1×1 probe gets right
            # as often as a 3×3 one while missing the rare moves that the task's macro-F1 weighs equally
            balanced = []
            for m in range(maps):
                y = labels[:, m * squares:(m + 1) * squares]
                w, b = fit_conv_probe([a[fit] for a in acts], y[fit], classes, kernel=kernel, l2=L2)
                predicted = conv_probe_logits([a[val] for a in acts], w, b, kernel=kernel).argmax(-1)
                keep = y[val] >= 0
                balanced.append(balanced_accuracy(y[val][keep], predicted[keep]))
            if best is None or np.mean(balanced) > best[0]:
                best = (float(np.mean(balanced)), kernel)
        kernel = best[1]
        weights = [np.zeros((c * squares, view.spec.output_dim)) for c in channels]
        bias = np.zeros(view.spec.output_dim)
        for m in range(maps):
            w, b = fit_conv_probe(acts, labels[:, m * squares:(m + 1) * squares], classes, kernel=kernel, l2=L2)
            dense, dense_bias = conv_probe_as_dense(w, b, channels, height, width, kernel)
            span = slice(m * squares * classes, (m + 1) * squares * classes)
            for i, d in enumerate(dense):
                weights[i][:, span] = d
            bias[span] = dense_bias
        return Readout(weights=dict(zip(hooks, weights)), bias=bias)
