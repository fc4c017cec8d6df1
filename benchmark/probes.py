"""Linear probes: the plain logistic-regression fit that task controls (and probe methods) build on.

Features are standardised inside the fit and the scaling is folded back into the returned weights, so the
result is a decoder on the raw activations, in the form a ``Readout`` or ``Prediction`` answer takes.
"""

from __future__ import annotations

import numpy as np


def fit_logistic(
    features: np.ndarray, labels: np.ndarray, num_classes: int, l2: float = 1e-2, max_iter: int = 100,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression (L2 on the standardised weights, full-batch L-BFGS).

    ``features`` [n, F], integer ``labels`` [n] in ``[0, num_classes)``. Returns ``(weights [F, C], bias [C])``
    on the raw features; for ``num_classes == 2`` callers wanting one logit use ``w[:, 1] - w[:, 0]``.
    """
    import torch  # here, not at module level: method plugins import this module while `mirl methods` lists them

    x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    y = np.asarray(labels, dtype=np.int64)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} feature rows but {len(y)} labels")
    if y.min(initial=0) < 0 or y.max(initial=0) >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got {y.min()}..{y.max()}")
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-6] = 1.0  # constant features carry nothing; keep them from blowing up
    torch.manual_seed(seed)
    xs = torch.from_numpy((x - mean) / scale)
    yt = torch.from_numpy(y)
    w = torch.zeros(x.shape[1], num_classes, requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(xs @ w + b, yt) + l2 * (w * w).sum()
        loss.backward()
        return loss

    # One thread for the fit: the summation order of a multi-threaded matmul depends on the thread count, and
    # L-BFGS amplifies those last bits (linear-probe on maze/goal-readout: 0.574 with 1 thread, 0.663 with 2),
    # so the same seed must give the same probe whatever OMP_NUM_THREADS the caller runs with.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        optimizer.step(closure)
    finally:
        torch.set_num_threads(threads)
    weights = w.detach().numpy().astype(np.float64) / scale[:, None]
    bias = b.detach().numpy().astype(np.float64) - (mean / scale) @ w.detach().numpy().astype(np.float64)
    return weights, bias

