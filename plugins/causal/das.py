"""`das`: distributed alignment search (Geiger et al. 2024) — learn the k-dimensional subspace of a layer whose
interchange from a source state makes the agent act as on the counterfactual.

The subspace is the column span of an orthonormalised [features, k] matrix W (a QR of a free parameter). For a
(base, source) pair the layer's activation becomes base + (source − base) W Wᵀ, and W is trained by Adam to
make the patched agent take its own greedy action on the counterfactual (cross-entropy). One W per offered hook
point; the hook whose W reaches the best interchange accuracy on a held-out fifth of the pairs is answered, as
a readout whose weight columns span the subspace (tasks that use a readout as a featurizer).
"""

from __future__ import annotations

import numpy as np

from mirl.method import Method
from mirl.schemas import MethodInfo, Readout

from .common import activations, interchange_pairs

PAIRS, STEPS, BATCH, LR = 2000, 300, 256, 1e-2


class DistributedAlignmentSearch(Method):
    info = MethodInfo(
        name="das",
        version="1",
        answer_kinds=["readout"],
        requires=["interchange_pairs"],
        stochastic=True,
        description="Distributed alignment search: learn the k-dim subspace whose interchange from source into base "
        "makes the agent act as on the counterfactual",
        references=["Geiger, Wu, Potts, Icard & Goodman 2024, Finding alignments between interpretable causal "
                    "variables and distributed neural representations (arXiv 2303.02536)"],
        hyperparameters={"pairs": PAIRS, "steps": STEPS, "batch": BATCH, "learning_rate": LR, "optimiser": "Adam",
                         "k": "the task's output_dim", "holdout_fraction": 0.2},
        compute=f"{PAIRS} train pairs; per hook point {STEPS} steps × {BATCH} patched forward and backward passes",
    )

    def solve(self, view):
        import torch

        pairs = interchange_pairs(view, PAIRS)
        k = view.spec.output_dim or 1
        hooks = list(view.hook_points)
        order = view.rng.permutation(len(pairs.target))
        cut = int(0.8 * len(order))
        fit, val = order[:cut], order[cut:]
        best = None
        for hook in hooks:
            base_act = activations(view, pairs.base, [hook])[hook]
            source_act = activations(view, pairs.source, [hook])[hook]
            torch.manual_seed(int(view.rng.integers(2**31)))
            param = torch.nn.Parameter(torch.randn(base_act[0].numel(), k))
            optimizer = torch.optim.Adam([param], lr=LR)
            rng = np.random.default_rng(int(view.rng.integers(2**31)))
            for _ in range(STEPS):
                rows = torch.from_numpy(rng.choice(fit, min(BATCH, len(fit)), replace=False))
                logits = self._patched(view, hook, torch.linalg.qr(param)[0], pairs.base[rows], base_act[rows],
                                       source_act[rows])
                loss = torch.nn.functional.cross_entropy(logits, pairs.target[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            basis = torch.linalg.qr(param.detach())[0]
            with torch.no_grad():
                rows = torch.from_numpy(val)
                chosen = self._patched(view, hook, basis, pairs.base[rows], base_act[rows], source_act[rows]).argmax(-1)
            hit = (chosen == pairs.target[rows]).numpy()
            changing = pairs.changing[val]
            accuracy = float(hit[changing].mean()) if changing.any() else float(hit.mean())
            if best is None or accuracy > best[0]:
                best = (accuracy, hook, basis.numpy().astype(np.float64))
        _, hook, basis = best
        return Readout(weights={hook: basis}, bias=np.zeros(k))

    @staticmethod
    def _patched(view, hook, basis, obs, base_act, source_act):
        """The agent's logits on ``obs`` with ``hook``'s activation moved along span(basis) to the source's."""
        delta = ((source_act - base_act).flatten(1) @ basis) @ basis.T

        def patch(act, _name):
            return act + delta.view_as(act)

        with view.agent.hooks([(hook, patch)]):
            return view.agent(obs)[0]
