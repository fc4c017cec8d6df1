"""`das`: distributed alignment search (Geiger et al. 2024) — learn the k-dimensional subspace of a layer whose
interchange from a source state makes the agent act as on the counterfactual.

The subspace is the column span of an orthonormalised [features, k] matrix W (a QR of a free parameter). For a
(base, source) pair the layer's activation becomes base + (source − base) W Wᵀ, and W is trained by Adam to
make the patched agent act as it does on the counterfactual (cross-entropy to its policy there), starting from the top
principal directions of the activation changes between base and counterfactual. On a spatial layer
[C, H, W] where k is a multiple of H·W, a second candidate shares one channel-space subspace of k / (H·W)
dimensions across positions (W = R ⊗ I, as DAS is usually run on conv features). Every (hook, candidate) is
trained; the one with the best interchange accuracy on a held-out fifth of the pairs is answered, as a readout
whose weight columns span the subspace (tasks that use a readout as a featurizer).
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
                         "k": "the task's output_dim", "holdout_fraction": 0.2,
                         "candidates": "a free k-dim subspace; on spatial hooks also one channel subspace shared "
                                       "across positions"},
        compute=f"{PAIRS} train pairs; per hook point and candidate {STEPS} steps × {BATCH} patched forward and "
        "backward passes",
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
            change = activations(view, pairs.counterfactual, [hook])[hook] - base_act  # what the variable moves
            for shape, expand in self._candidates(tuple(base_act.shape[1:]), k):
                torch.manual_seed(int(view.rng.integers(2**31)))
                param = torch.nn.Parameter(self._principal_directions(change, shape) + 0.01 * torch.randn(*shape))
                optimizer = torch.optim.Adam([param], lr=LR)
                rng = np.random.default_rng(int(view.rng.integers(2**31)))
                for _ in range(STEPS):
                    rows = torch.from_numpy(rng.choice(fit, min(BATCH, len(fit)), replace=False))
                    logits = self._patched(view, hook, expand(torch.linalg.qr(param)[0]), pairs.base[rows],
                                           base_act[rows], source_act[rows])
                    # toward the agent's whole policy on c: its ties between equally good actions stay ties
                    loss = torch.nn.functional.cross_entropy(logits, pairs.target_probs[rows])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                basis = expand(torch.linalg.qr(param.detach())[0])
                best = self._keep_best(best, view, hook, basis, pairs, val, base_act, source_act)
        _, hook, basis = best
        return Readout(weights={hook: basis}, bias=np.zeros(k))

    @staticmethod
    def _principal_directions(change, shape: tuple[int, int]):
        """The start: the top principal directions of the activation changes between base and counterfactual
        (flattened, or per position over channels for the shared channel subspace), a random start's usual fix:
        from random starts the shared subspace stalls at half the accuracy on doorkey."""
        import torch

        features, k = shape
        rows = change.flatten(1) if features == change[0].numel() else change.flatten(2).transpose(1, 2).reshape(-1, features)
        _, _, vh = torch.linalg.svd(rows - rows.mean(0), full_matrices=False)
        top = vh[: min(k, len(vh))].T
        return torch.cat([top, torch.randn(features, k - top.shape[1])], 1) if top.shape[1] < k else top

    @staticmethod
    def _candidates(layer: tuple[int, ...], k: int):
        """(parameter shape, basis from its orthonormalised columns) per candidate subspace family."""
        import torch

        out = [((int(np.prod(layer)), k), lambda q: q)]
        positions = int(np.prod(layer[1:])) if len(layer) == 3 else 0
        if positions and k % positions == 0 and k // positions <= layer[0]:
            eye = torch.eye(positions)
            out.append(((layer[0], k // positions), lambda q: torch.kron(q.contiguous(), eye)))  # rows c·P + p, columns j·P + p
        return out

    def _keep_best(self, best, view, hook, basis, pairs, val, base_act, source_act):
        """``best`` or this candidate, whichever has the higher interchange accuracy on the held-out pairs (those
        whose counterfactual action differs from the base's, where there are any)."""
        import torch

        with torch.no_grad():
            rows = torch.from_numpy(val)
            chosen = self._patched(view, hook, basis, pairs.base[rows], base_act[rows], source_act[rows]).argmax(-1)
        hit = (chosen == pairs.target[rows]).numpy()
        changing = pairs.changing[val]
        accuracy = float(hit[changing].mean()) if changing.any() else float(hit.mean())
        if best is None or accuracy > best[0]:
            return (accuracy, hook, basis.numpy().astype(np.float64))
        return best

    @staticmethod
    def _patched(view, hook, basis, obs, base_act, source_act):
        """The agent's logits on ``obs`` with ``hook``'s activation moved along span(basis) to the source's."""
        delta = ((source_act - base_act).flatten(1) @ basis) @ basis.T

        def patch(act, _name):
            return act + delta.view_as(act)

        with view.agent.hooks([(hook, patch)]):
            return view.agent(obs)[0]
