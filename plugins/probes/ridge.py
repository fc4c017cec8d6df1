"""`ridge-probe`: ridge regression of a continuous target (one value or several per state, e.g. each arm's
value estimate) on one hook point's activations, for readouts scored by R².

The hook point and the ridge strength are chosen on a held-out fifth of the train split (R² floored at 0, as
the tasks score it), then the probe is refitted on the whole split. Features are standardised for the fit and
the answer folds the standardisation back in, so it decodes the raw activations.
"""

from __future__ import annotations

import numpy as np

from mirl.method import Method
from mirl.schemas import MethodInfo, Prediction, Readout
from mirl.scoring import variance_explained

from .common import HOLDOUT, labelled_split

ALPHA_GRID = (1e-2, 1.0, 1e2)  # × the number of fitted rows (the penalty per state stays comparable)


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(weights [features, outputs], bias [outputs]) minimising ‖y − xw − b‖² + alpha·n·‖w‖² on standardised
    features, returned for the raw ones."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64).reshape(len(y), -1)
    mean, sd = x.mean(0), x.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    z = (x - mean) / sd
    y_mean = y.mean(0)
    gram = z.T @ z + alpha * len(z) * np.eye(z.shape[1])
    w = np.linalg.solve(gram, z.T @ (y - y_mean))
    weights = w / sd[:, None]
    return weights, y_mean - mean @ weights


class RidgeProbe(Method):
    info = MethodInfo(
        name="ridge-probe",
        version="1",
        answer_kinds=["readout", "prediction"],
        families=["icrl"],  # where readout targets are continuous (R²-scored); class targets take linear-probe
        description="Ridge regression of a continuous target on the best hook point and ridge strength (chosen "
        "on a held-out fifth of the train split by R²), refitted on all of it",
        references=["Hoerl & Kennard 1970, Ridge regression: biased estimation for nonorthogonal problems "
                    "(Technometrics)", "Alain & Bengio 2016, Understanding intermediate layers using linear "
                    "classifier probes (arXiv 1610.01644)"],
        hyperparameters={"alpha_grid": list(ALPHA_GRID), "holdout_fraction": HOLDOUT,
                         "hooks": "every offered hook point except the observation"},
        compute="the task's whole train split (its forward passes) and (hooks × alpha grid + 1) ridge fits",
    )

    def solve(self, view):
        split = labelled_split(view, self.info.name, continuous=True)
        y, fit, val = split.labels, split.fit, split.val
        best = None
        for hook, x in split.activations.items():
            for alpha in ALPHA_GRID:
                w, b = fit_ridge(x[fit], y[fit], alpha)
                score = variance_explained(y[val], x[val] @ w + b)
                if best is None or score > best[0]:
                    best = (score, hook, alpha)
        _, hook, alpha = best
        w, b = fit_ridge(split.activations[hook], y, alpha)
        model = Readout if view.answer_kind == "readout" else Prediction
        return model(weights={hook: w}, bias=b)
