"""`prior`: predict every instance the same, from the train split's label frequencies alone.

The decoder's weights are zero and its bias is the log of each class's train frequency (one output: the
log-odds of class 1), so the prediction ignores the state: it ranks nothing (AUROC 0.5) but is calibrated,
the floor of Brier-type metrics that any predictor reading the agent has to beat.
"""

from __future__ import annotations

import numpy as np

from mirl.method import Method
from mirl.schemas import MethodInfo, Prediction

PRIOR_STATES = 500
SMOOTHING = 1.0  # add-one (Laplace) counts, so an unseen class gets a finite log-probability


class Prior(Method):
    info = MethodInfo(
        name="prior",
        version="1",
        answer_kinds=["prediction"],
        description="The train split's label frequencies as a constant prediction (zero weights, bias = log "
        "frequency; one output: the log-odds): calibrated, and blind to the state",
        references=["Brier 1950, Verification of forecasts expressed in terms of probability (the climatology "
                    "reference forecast)"],
        hyperparameters={"states": f"the first {PRIOR_STATES} of the train split (fewer if it is smaller)",
                         "smoothing": f"add-{SMOOTHING:g} counts"},
        compute=f"up to {PRIOR_STATES} train-split states (their forward passes); no fit",
    )

    def solve(self, view):
        labels = np.asarray(view.train_data(min(PRIOR_STATES, view.spec.train_size), hooks=[])
                            .labels[view.spec.target]).astype(np.int64).ravel()
        outputs = view.spec.output_dim or int(labels.max()) + 1
        counts = np.bincount(labels, minlength=max(outputs, 2)) + SMOOTHING
        log_freq = np.log(counts / counts.sum())
        bias = np.array([log_freq[1] - log_freq[0]]) if outputs == 1 else log_freq[:outputs]
        hook = next(iter(view.hook_points))
        features = int(np.prod(view.hook_points[hook]))
        return Prediction(weights={hook: np.zeros((features, len(bias)))}, bias=bias)
