"""`linear-probe`: multinomial logistic regression on one hook point's activations.

The hook point and the L2 strength are chosen on a held-out fifth of the train split (balanced accuracy), then
the probe is refitted on the whole split. For a prediction task with one output, the answer is the log-odds of
class 1 (w₁ − w₀, b₁ − b₀). The observation itself is a candidate only where a task offers nothing else.
"""

from __future__ import annotations

import numpy as np

from mirl.errors import MirlError
from mirl.method import Method
from mirl.probes import fit_logistic
from mirl.schemas import MethodInfo, Prediction, Readout
from mirl.scoring import balanced_accuracy

L2_GRID = (1e-3, 1e-2, 1e-1)
HOLDOUT = 0.2


class LinearProbe(Method):
    info = MethodInfo(
        name="linear-probe",
        version="1",
        answer_kinds=["readout", "prediction"],
        description="Logistic-regression probe on the best hook point and L2 (chosen on a held-out fifth of the "
        "train split), refitted on all of it (Alain & Bengio 2016)",
        references=["Alain & Bengio 2016, Understanding intermediate layers using linear classifier probes "
                    "(arXiv 1610.01644)"],
        hyperparameters={"l2_grid": list(L2_GRID), "holdout_fraction": HOLDOUT, "optimiser": "L-BFGS, 100 steps",
                         "hooks": "every offered hook point except the observation"},
        compute="the task's whole train split (its forward passes) and (hooks × L2 grid + 1) logistic fits",
    )

    def solve(self, view):
        hooks = [h for h in view.hook_points if h != "hook_obs"] or list(view.hook_points)
        data = view.train_data(hooks=hooks)
        labels = np.asarray(data.labels[view.spec.target]).astype(np.int64)
        if labels.ndim != 1:
            raise MirlError(f"linear-probe decodes one label per state; {view.spec.id}'s {view.spec.target!r} has "
                            f"shape {list(labels.shape)} (one per square): use conv-probe")
        outputs = view.spec.output_dim or int(labels.max()) + 1
        classes = max(outputs, 2)
        order = view.rng.permutation(len(labels))
        cut = int(len(labels) * (1 - HOLDOUT))
        fit_rows, val_rows = order[:cut], order[cut:]
        best = None
        for hook in hooks:
            x = data.activations[hook].reshape(len(labels), -1)
            for l2 in L2_GRID:
                w, b = fit_logistic(x[fit_rows], labels[fit_rows], classes, l2=l2)
                score = balanced_accuracy(labels[val_rows], (x[val_rows] @ w + b).argmax(1))
                if best is None or score > best[0]:
                    best = (score, hook, l2)
        _, hook, l2 = best
        w, b = fit_logistic(data.activations[hook].reshape(len(labels), -1), labels, classes, l2=l2)
        if view.answer_kind == "prediction":
            if outputs == 1:
                return Prediction(weights={hook: (w[:, 1] - w[:, 0])[:, None]}, bias=np.array([b[1] - b[0]]))
            return Prediction(weights={hook: w}, bias=b)
        return Readout(weights={hook: w}, bias=b)
