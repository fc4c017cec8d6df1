"""What the interchange methods share: the task's pairs as tensors, and the behaviour patching should cause."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Pairs:
    base: "torch.Tensor"  # noqa: F821  [n, *obs]
    source: "torch.Tensor"  # noqa: F821
    counterfactual: "torch.Tensor"  # noqa: F821
    target: "torch.Tensor"  # noqa: F821  [n] the agent's greedy action on the counterfactual
    target_probs: "torch.Tensor"  # noqa: F821  [n, actions] its policy there
    changing: np.ndarray  # [n] bool: that action differs from the agent's greedy action on the base


def interchange_pairs(view, n: int) -> Pairs:
    """``n`` of the task's train pairs (fewer if its split is smaller), with the agent's own greedy actions on the
    counterfactual as the behaviour a successful patch must produce (no expert needed: any agent works)."""
    import torch

    base, source, cf = (torch.from_numpy(np.asarray(a)) for a in view.interchange_pairs(min(n, view.spec.train_size)))
    with torch.no_grad():
        cf_logits = view.agent(cf)[0]
        on_base = view.agent(base)[0].argmax(-1)
    on_cf = cf_logits.argmax(-1)
    return Pairs(base, source, cf, on_cf, torch.softmax(cf_logits.float(), -1), (on_cf != on_base).numpy())


def activations(view, obs, hooks: list[str]) -> dict:
    """Activations at ``hooks`` (no gradient), in batches."""
    import torch

    out: dict[str, list] = {h: [] for h in hooks}
    with torch.no_grad():
        for start in range(0, len(obs), 512):
            _, cache = view.agent.run_with_cache(obs[start:start + 512], names=hooks)
            for h in hooks:
                out[h].append(cache[h])
    return {h: torch.cat(v) for h, v in out.items()}
