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
    ``labels`` [n, G] fits G heads at once (one per column, e.g. per board square; −1 entries are left out):
    ``(weights [F, G·C], bias [G·C])``, column g's logits at ``[g·C, (g+1)·C)``.
    """
    import torch  # here, not at module level: method plugins import this module while `mirl methods` lists them

    x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    y = np.asarray(labels, dtype=np.int64)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} feature rows but {len(y)} labels")
    heads = 1 if y.ndim == 1 else y.shape[1]
    lowest = -1 if y.ndim == 2 else 0
    if y.min(initial=0) < lowest or y.max(initial=0) >= num_classes:
        raise ValueError(f"labels must lie in [{lowest}, {num_classes}), got {y.min()}..{y.max()}")
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-6] = 1.0  # constant features carry nothing; keep them from blowing up
    torch.manual_seed(seed)
    xs = torch.from_numpy((x - mean) / scale)
    yt = torch.from_numpy(y)
    w = torch.zeros(x.shape[1], heads * num_classes, requires_grad=True)
    b = torch.zeros(heads * num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = xs @ w + b
        if y.ndim == 2:  # every (row, head) is one sample of a num_classes-way choice
            logits, targets = logits.reshape(-1, num_classes), yt.reshape(-1)
            fit = torch.nn.functional.cross_entropy(logits, targets, ignore_index=-1)
        else:
            fit = torch.nn.functional.cross_entropy(logits, yt)
        loss = fit + l2 * (w * w).sum()
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



def _unfold(maps: list[np.ndarray], kernel: int) -> np.ndarray:
    """[N, C, H, W] maps (channels concatenated over the list) → per-square features [N, H·W, C·k·k]: each
    square's k×k neighbourhood of every channel, zero beyond the board (as convolution padding)."""
    x = np.concatenate([np.asarray(m, dtype=np.float32) for m in maps], axis=1)
    n, c, h, w = x.shape
    pad = kernel // 2
    padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=np.float32)
    padded[:, :, pad:pad + h, pad:pad + w] = x
    patches = [padded[:, :, dy:dy + h, dx:dx + w] for dy in range(kernel) for dx in range(kernel)]
    stacked = np.stack(patches, axis=2)  # [N, C, k·k, H, W]
    return stacked.reshape(n, c * kernel * kernel, h * w).transpose(0, 2, 1)


def fit_conv_probe(maps: list[np.ndarray], labels: np.ndarray, num_classes: int, kernel: int = 1,
                   l2: float = 1e-3, max_iter: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A spatial probe (Bush et al. 2025's 1×1 / 3×3 conv probes): one logistic regression shared by every
    square, on the k×k neighbourhood of every channel of ``maps`` ([N, C_i, H, W] each, channels stacked).

    ``labels`` [N, H·W] ints in ``[0, num_classes)``, −1 for squares to leave out (walls). Returns
    ``(weights [C·k·k, K], bias [K])`` on the raw unfolded features (``_unfold`` order: channel-major)."""
    features = _unfold(maps, kernel)
    y = np.asarray(labels).reshape(len(features), -1)
    keep = y >= 0
    return fit_logistic(features[keep], y[keep], num_classes, l2=l2, max_iter=max_iter, seed=seed)


def conv_probe_logits(maps: list[np.ndarray], weights: np.ndarray, bias: np.ndarray, kernel: int = 1) -> np.ndarray:
    """[N, H·W, K] logits of a probe from ``fit_conv_probe``."""
    return _unfold(maps, kernel) @ weights + bias


def conv_probe_as_dense(weights: np.ndarray, bias: np.ndarray, channels: list[int], height: int, width: int,
                        kernel: int = 1) -> tuple[list[np.ndarray], np.ndarray]:
    """The same probe as one dense decoder per map (what a ``Readout`` answer holds): per map ``i`` a matrix
    [C_i·H·W, H·W·K] from its flattened activations to logits laid out (square, class); and the bias [H·W·K]."""
    k2, classes, squares = kernel * kernel, weights.shape[1], height * width
    pad = kernel // 2
    w = weights.reshape(sum(channels), k2, classes)
    dense, start = [], 0
    for c in channels:
        out = np.zeros((c, height, width, squares, classes))
        for p in range(squares):
            r, col = divmod(p, width)
            for j in range(k2):
                dy, dx = divmod(j, kernel)
                rr, cc = r + dy - pad, col + dx - pad
                if 0 <= rr < height and 0 <= cc < width:
                    out[:, rr, cc, p, :] += w[start:start + c, j, :]
        dense.append(out.reshape(c * squares, squares * classes))
        start += c
    return dense, np.tile(bias, squares)
