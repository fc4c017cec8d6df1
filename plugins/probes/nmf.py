"""`nmf-probe`: a logistic probe on the loadings of a non-negative matrix factorisation of the activations.

As in Hilton et al. 2020 (Understanding RL Vision) and McGrath et al. 2022 (AlphaZero), a spatial hook point's
activations are factorised over channels with every (state, position) as a sample, so each factor is a
non-negative channel direction and its loadings form a map over the board; a flat hook point is factorised
with every state as a sample. Activations are first shifted by their per-channel (flat: per-unit) minimum on
the train split, so that layers with negative values qualify too (post-ReLU layers: no shift).

NMF itself is fitted by Lee & Seung's multiplicative updates (Frobenius loss). The loadings the probe reads
are the least-squares coefficients of the shifted activations on the fitted factors, a linear map, so the
probe folds back into a decoder on the raw activations (a Readout or Prediction answer); on the train split
they agree with the NMF loadings up to the factorisation error. The hook point and the number of factors are
chosen on a held-out fifth of the train split (balanced accuracy), then the probe is refitted on all of it.
"""

from __future__ import annotations

import numpy as np

from mirl.method import Method
from mirl.probes import fit_logistic
from mirl.schemas import MethodInfo
from mirl.scoring import balanced_accuracy

from .common import HOLDOUT, decoder_answer, labelled_split

FACTORS = (4, 8, 16)
ITERATIONS = 200
NMF_SAMPLES = 20_000  # rows the factorisation is fitted on (a seeded subsample beyond that)
L2 = 1e-2
EPS = 1e-10


def nmf(x: np.ndarray, k: int, iterations: int = ITERATIONS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative ``x`` [n, F] ≈ loadings [n, k] @ factors [k, F], both non-negative (Lee & Seung 2001's
    multiplicative updates for the Frobenius loss, from a seeded uniform start scaled to ``x``'s mean)."""
    x = np.asarray(x, dtype=np.float64)
    if x.min(initial=0.0) < 0:
        raise ValueError(f"nmf needs non-negative input; its minimum is {x.min():g}")
    rng = np.random.default_rng(seed)
    scale = np.sqrt(max(x.mean(), EPS) / k)
    w = rng.uniform(0.0, 2.0 * scale, size=(len(x), k))
    h = rng.uniform(0.0, 2.0 * scale, size=(k, x.shape[1]))
    for _ in range(iterations):
        h *= (w.T @ x) / (w.T @ w @ h + EPS)
        w *= (x @ h.T) / (w @ (h @ h.T) + EPS)
    return w, h


class _Factorisation:
    """One hook point's NMF: raw activation [n, F] → loading features [n, k·positions], linear in the input."""

    def __init__(self, x: np.ndarray, shape: tuple[int, ...], k: int, seed: int):
        self.channels, self.k = shape[0], k
        self.positions = int(np.prod(shape[1:]))  # 1 for flat hooks
        samples = self._samples(x)  # [n·positions, C] (flat hooks: [n, F])
        self.shift = samples.min(0)
        rng = np.random.default_rng(seed)
        if len(samples) > NMF_SAMPLES:
            samples = samples[rng.choice(len(samples), NMF_SAMPLES, replace=False)]
        _, factors = nmf(samples - self.shift, k, seed=int(rng.integers(2**31)))
        # least-squares loadings of a sample s on the factors: (s − shift) @ projection
        self.projection = factors.T @ np.linalg.pinv(factors @ factors.T)  # [C, k]

    def _samples(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(len(x), self.channels, self.positions)
        return x.transpose(0, 2, 1).reshape(-1, self.channels)

    def features(self, x: np.ndarray) -> np.ndarray:
        """[n, k·positions] loading maps, factor-major (factor j's map is columns j·P … j·P + P − 1)."""
        loadings = (self._samples(x) - self.shift) @ self.projection  # [n·P, k]
        return loadings.reshape(len(x), self.positions, self.k).transpose(0, 2, 1).reshape(len(x), -1)

    def decoder(self, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A probe (w [k·P, K], b [K]) on ``features`` as a decoder on the raw flattened activation [C·P, K]."""
        per_factor = w.reshape(self.k, self.positions, -1)  # [k, P, K]
        weights = np.einsum("cj,jpo->cpo", self.projection, per_factor).reshape(self.channels * self.positions, -1)
        bias = b - np.einsum("j,jpo->o", self.shift @ self.projection, per_factor)
        return weights, bias


class NMFProbe(Method):
    info = MethodInfo(
        name="nmf-probe",
        version="1",
        answer_kinds=["readout", "prediction"],
        description="NMF of a hook point's (min-shifted) activations over channels, then a logistic probe on the "
        "factor loadings; hook point and factor count chosen on a held-out fifth of the train split",
        references=["Hilton et al. 2020, Understanding RL Vision (Distill)",
                    "McGrath et al. 2022, Acquisition of chess knowledge in AlphaZero (PNAS; arXiv 2111.09259)",
                    "Lee & Seung 2001, Algorithms for Non-negative Matrix Factorization (NeurIPS)"],
        hyperparameters={"factors_grid": list(FACTORS), "iterations": ITERATIONS, "l2": L2,
                         "holdout_fraction": HOLDOUT, "samples": "(state, position) pairs for [C, H, W] hooks, "
                         "states for flat hooks", "shift": "per-channel train minimum",
                         "loadings": "least squares on the fitted factors (linear, so the answer stays a decoder)",
                         "hooks": "every offered hook point except the observation"},
        compute=f"the task's whole train split (its forward passes), hooks × {len(FACTORS)} NMF fits of "
        f"{ITERATIONS} multiplicative updates, and (hooks × factor grid + 1) logistic fits",
    )

    def solve(self, view):
        split = labelled_split(view, "nmf-probe")
        y = split.labels
        seed = int(view.rng.integers(2**31))
        best = None
        for hook, x in split.activations.items():
            shape = tuple(view.hook_points[hook])
            for k in sorted({min(k, shape[0]) for k in FACTORS}):  # no more factors than channels
                factorisation = _Factorisation(x, shape, k, seed)
                features = factorisation.features(x)
                w, b = fit_logistic(features[split.fit], y[split.fit], split.classes, l2=L2)
                score = balanced_accuracy(y[split.val], (features[split.val] @ w + b).argmax(1))
                if best is None or score > best[0]:
                    best = (score, hook, factorisation)
        _, hook, factorisation = best
        w, b = fit_logistic(factorisation.features(split.activations[hook]), y, split.classes, l2=L2)
        weights, bias = factorisation.decoder(w, b)
        return decoder_answer(view, hook, weights, bias, split.outputs)
