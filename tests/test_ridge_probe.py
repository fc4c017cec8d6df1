"""ridge-probe: known answers on a planted linear code, and the class probes refusing a continuous target."""

from __future__ import annotations

import types

import numpy as np
import pytest

from mirl.errors import MirlError
from mirl.plugins.probes.linear import LinearProbe
from mirl.plugins.probes.ridge import RidgeProbe, fit_ridge
from mirl.scoring import variance_explained
from mirl.task import TrainData


def view(x: dict[str, np.ndarray], y: np.ndarray, seed: int = 0):
    data = TrainData(obs=np.zeros((len(y), 1)), labels={"values": y}, activations=x)
    return types.SimpleNamespace(
        hook_points={h: a.shape[1:] for h, a in x.items()}, answer_kind="readout", rng=np.random.default_rng(seed),
        spec=types.SimpleNamespace(id="toy/values-v1", target="values", output_dim=y.shape[1]),
        train_data=lambda hooks: data)


def test_ridge_reads_a_planted_linear_code_and_not_noise():
    rng = np.random.default_rng(0)
    code, noise = rng.normal(size=(2000, 4, 8)), rng.normal(size=(2000, 32))
    values = code.reshape(2000, -1) @ rng.normal(size=(32, 3)) * 0.1 + 0.5  # 3 outputs, a linear code
    answer = RidgeProbe().solve(view({"code": code, "noise": noise}, values))
    assert list(answer.weights) == ["code"] and answer.weights["code"].shape == (32, 3)  # the informative hook
    w, b = fit_ridge(code.reshape(2000, -1), values, 1e-6)
    assert variance_explained(values, code.reshape(2000, -1) @ w + b) > 0.999  # a near-unpenalised fit is exact
    shuffled = RidgeProbe().solve(view({"code": code}, values[rng.permutation(2000)]))
    fresh = rng.normal(size=(1000, 4, 8))
    fresh_values = fresh.reshape(1000, -1) @ np.linalg.lstsq(code.reshape(2000, -1), values - values.mean(0),
                                                             rcond=None)[0] + values.mean(0)
    good = fresh.reshape(1000, -1) @ answer.weights["code"] + answer.bias
    bad = fresh.reshape(1000, -1) @ shuffled.weights["code"] + shuffled.bias
    assert variance_explained(fresh_values, good) > 0.95 and variance_explained(fresh_values, bad) < 0.05


def test_class_probes_and_ridge_refuse_the_other_kind_of_target():
    rng = np.random.default_rng(1)
    x = {"code": rng.normal(size=(50, 8))}
    with pytest.raises(MirlError, match="linear-probe decodes classes; toy/values-v1's 'values' is continuous: use "
                                        "ridge-probe"):
        LinearProbe().solve(view(x, rng.random((50, 1))))
    with pytest.raises(MirlError, match="ridge-probe regresses a continuous target; toy/values-v1's 'values' is "
                                        "int64 \\(classes\\): use linear-probe"):
        RidgeProbe().solve(view(x, rng.integers(0, 3, (50, 1))))
