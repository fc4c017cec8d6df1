"""`projection-removal`: project the task's feature direction out of a hook point's activations.

The direction is built from the first half of the task's steering pairs (``view.steering_pairs``), as the
contrast methods build theirs: the mean difference (with the feature − without), a logistic probe's weight
vector separating the two, or, at spatial hook points, the mean difference of each channel averaged over
positions (removed at every position). Each direction gives two candidate edits: remove the component along
it (amnesic probing / INLP: the agent can no longer read the feature's current value there), or remove it and
set it to its mean value with the feature (the component clamped, an edit that can also induce the feature).
The hook, direction and edit kept are those that make the policy on the plain observations of the pairs'
second half closest (mean KL) to its policy on the feature observations, as for mean-difference.
"""

from __future__ import annotations

import numpy as np

from mirl.schemas import Edit, MethodInfo

from .contrast import PAIRS, _ContrastSteering, probe_direction


def _unit(vector: np.ndarray) -> np.ndarray | None:
    norm = float(np.linalg.norm(vector))
    return None if norm < 1e-12 else vector / norm


class ProjectionRemoval(_ContrastSteering):
    info = MethodInfo(
        name="projection-removal",
        version="1",
        answer_kinds=["intervention"],
        requires=["steering_pairs"],
        description="Project the feature's direction (mean difference, probe weights or per-channel mean "
        "difference) out of a hook point, optionally clamping its component to the with-feature mean; hook, "
        "direction and edit chosen by the same policy match as mean-difference",
        references=["Ravfogel et al. 2020, Null It Out: Guarding Protected Attributes by Iterative Nullspace "
                    "Projection (arXiv 2004.07667)",
                    "Elazar et al. 2021, Amnesic Probing: Behavioral Explanation with Amnesic Counterfactuals "
                    "(arXiv 2006.00995)",
                    "Belrose et al. 2023, LEACE: Perfect linear concept erasure in closed form (arXiv 2306.03819)"],
        hyperparameters={"pairs": PAIRS, "directions": ["mean difference", "logistic probe (L2 1e-2)",
                                                         "per-channel mean difference (spatial hooks)"],
                         "edits": ["project out", "project out, then add the with-feature mean component"],
                         "selection": "mean KL(π(feature) ‖ π_edited(plain)) on the held-out half of the pairs",
                         "hooks": "every offered hook point except the observation"},
        compute=f"{PAIRS} steering pairs' forward passes, one logistic fit per hook, then hooks × up to 6 edited "
        "passes over half of them",
    )

    def candidates(self, plain, feature, view):
        out = []
        for hook in plain:
            shape = plain[hook].shape[1:]
            n = len(plain[hook])
            flat_plain, flat_feature = plain[hook].reshape(n, -1), feature[hook].reshape(n, -1)
            directions = [_unit(flat_feature.mean(0) - flat_plain.mean(0)),
                          probe_direction(flat_plain, flat_feature, seed=int(view.rng.integers(2**31)))]
            for u in directions:
                if u is None:
                    continue
                removal = Edit(hook=hook, op="project_out", vector=u.reshape(shape))
                level = float((flat_feature @ u).mean())  # the component's mean with the feature
                out += [removal, [removal, Edit(hook=hook, op="add", vector=level * u.reshape(shape))]]
            if len(shape) == 3:  # [C, H, W]: a channel direction, removed at every position
                u = _unit((feature[hook] - plain[hook]).mean((0, 2, 3)))
                if u is not None:
                    removal = Edit(hook=hook, op="project_out", vector=u)
                    level = np.einsum("nchw,c->nhw", feature[hook], u).mean(0)  # [H, W]: per position
                    out += [removal, [removal, Edit(hook=hook, op="add", vector=u[:, None, None] * level[None])]]
        return out
