"""`linear-probe`: multinomial logistic regression on one hook point's activations; `obs-only-predictor`: the
same on the observation alone.

The hook point and the L2 strength are chosen on a held-out fifth of the train split (balanced accuracy), then
the probe is refitted on the whole split. For a prediction task with one output, the answer is the log-odds of
class 1 (w₁ − w₀, b₁ − b₀). The observation itself is a candidate only where a task offers nothing else.
Per-square targets (labels [N, G], outputs laid out square × class, as sokoban/plan-readout's) get one dense
head per square on the whole flattened hook: unlike conv-probe, nothing is shared between squares.

obs-only-predictor asks how much of a prediction needs the agent's internals at all: what the observation
(``hook_obs``, the agent's input) predicts by a linear probe is the bar an activation probe has to clear.
"""

from __future__ import annotations

from mirl.errors import MirlError
from mirl.method import Method
from mirl.probes import fit_logistic
from mirl.schemas import MethodInfo
from mirl.scoring import balanced_accuracy

from .common import HOLDOUT, decoder_answer, labelled_split

L2_GRID = (1e-3, 1e-2, 1e-1)
COLUMN_SELECTION_FIT, COLUMN_SELECTION_VAL = 1200, 300  # states, for per-column labels


class LinearProbe(Method):
    info = MethodInfo(
        name="linear-probe",
        version="2",
        answer_kinds=["readout", "prediction"],
        description="Logistic-regression probe on the best hook point and L2 (chosen on a held-out fifth of the "
        "train split), refitted on all of it (Alain & Bengio 2016)",
        references=["Alain & Bengio 2016, Understanding intermediate layers using linear classifier probes "
                    "(arXiv 1610.01644)"],
        hyperparameters={"l2_grid": list(L2_GRID), "holdout_fraction": HOLDOUT, "optimiser": "L-BFGS, 100 steps",
                         "hooks": "every offered hook point except the observation",
                         "per_column_labels": f"one head per column (e.g. per square) on the whole flattened hook; "
                         f"settings chosen on {COLUMN_SELECTION_FIT} + {COLUMN_SELECTION_VAL} states"},
        compute="the task's whole train split (its forward passes) and (hooks × L2 grid + 1) logistic fits",
    )

    def hooks(self, view) -> list[str] | None:
        """The hook points to choose from (None: every offered one but the observation)."""
        return None

    def solve(self, view):
        split = labelled_split(view, self.info.name, self.hooks(view), per_column=True)
        y = split.labels
        # per-column labels (one class per square): one head per column, chosen on fewer states (each holds G
        # samples) so that hooks × L2 grid fits stay affordable
        fit, val = (split.fit, split.val) if y.ndim == 1 else (split.fit[:COLUMN_SELECTION_FIT],
                                                               split.val[:COLUMN_SELECTION_VAL])
        best = None
        for hook, x in split.activations.items():
            for l2 in L2_GRID:
                w, b = fit_logistic(x[fit], y[fit], split.classes, l2=l2)
                logits = x[val] @ w + b
                if y.ndim == 1:
                    score = balanced_accuracy(y[val], logits.argmax(1))
                else:
                    predicted = logits.reshape(len(val), y.shape[1], split.classes).argmax(-1)
                    keep = y[val] >= 0
                    score = balanced_accuracy(y[val][keep], predicted[keep])
                if best is None or score > best[0]:
                    best = (score, hook, l2)
        _, hook, l2 = best
        w, b = fit_logistic(split.activations[hook], y, split.classes, l2=l2)
        return decoder_answer(view, hook, w, b, split.outputs)


class ObsOnlyPredictor(LinearProbe):
    info = MethodInfo(
        name="obs-only-predictor",
        version="1",
        answer_kinds=["prediction"],
        description="Logistic regression on the observation alone (hook_obs, the agent's input), L2 chosen on a "
        "held-out fifth of the train split: what an activation probe must beat to show the internals add anything",
        references=["Hewitt & Liang 2019, Designing and Interpreting Probes with Control Tasks (arXiv 1909.03368)",
                    "Alain & Bengio 2016, Understanding intermediate layers using linear classifier probes "
                    "(arXiv 1610.01644)"],
        hyperparameters={"l2_grid": list(L2_GRID), "holdout_fraction": HOLDOUT, "optimiser": "L-BFGS, 100 steps",
                         "hooks": ["hook_obs"]},
        compute="the task's whole train split (its forward passes) and (L2 grid + 1) logistic fits on the "
        "observation",
    )

    def hooks(self, view):
        if "hook_obs" not in view.hook_points:
            raise MirlError(f"obs-only-predictor reads hook_obs, which {view.spec.id} does not offer")
        return ["hook_obs"]
