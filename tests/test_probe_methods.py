"""Probe methods: the logistic fit itself, and `linear-probe` through the method contract on the smoke tasks."""

from __future__ import annotations

import numpy as np
import pytest

from mirl.pluginhost import get_methods
from mirl.probes import fit_logistic
from mirl.testing import check_method


def test_logistic_fit_separates_and_works_on_raw_features():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 20)) * 3
    labels = rng.integers(0, 3, size=600)
    x = centres[labels] + rng.normal(size=(600, 20))
    x[:, 5] = 7.0  # a constant feature must not break the standardisation
    x *= np.linspace(0.01, 100, 20)  # wildly different scales, folded back into the weights
    w, b = fit_logistic(x, labels, 3)
    assert w.shape == (20, 3) and b.shape == (3,)
    assert ((x @ w + b).argmax(1) == labels).mean() > 0.97
    shuffled = rng.permutation(labels)
    w, b = fit_logistic(x[:300], shuffled[:300], 3)
    assert ((x[300:] @ w + b).argmax(1) == shuffled[300:]).mean() < 0.45  # nothing to learn: ≈ chance (1/3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        fit_logistic(x, labels + 1, 3)


def test_linear_probe_honours_the_contract_and_reads_the_smoke_goal():
    results = check_method(get_methods().get("linear-probe"), task_ids=["smoke/goal-readout-v1", "smoke/next-action-v1"])
    for result in results:
        assert result.status == "ok", result.error
        assert result.normalized_score > 0.95, (result.task_id, result.metrics)


def test_logistic_fit_does_not_depend_on_the_callers_thread_count():
    import torch

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 300)).astype(np.float32)
    labels = (x[:, :5].sum(1) > 0).astype(int) + (x[:, 5] > 1)
    before = torch.get_num_threads()
    fits = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        fits.append(fit_logistic(x, labels, 3, l2=1e-3))
    torch.set_num_threads(before)
    np.testing.assert_array_equal(fits[0][0], fits[1][0])
    np.testing.assert_array_equal(fits[0][1], fits[1][1])
    assert torch.get_num_threads() == before


def test_f_statistic_ranks_the_informative_unit_first():
    from mirl.plugins.probes.sparse import f_statistic

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    x = rng.normal(size=(600, 5))
    x[:, 3] += 2.0 * labels  # only column 3 depends on the class
    f = f_statistic(x, labels)
    assert int(np.argmax(f)) == 3 and f[3] > 50 * np.median(f)


def test_unit_scoring_methods_on_the_planted_smoke_units():
    """ablation-scan finds the planted goal units better than chance; activation-variance is label-free and
    has no reason to (it lands below chance here: the planted units are not the most variable)."""
    from mirl.pluginhost import get_methods, get_tasks
    from mirl.runner import evaluate

    task = get_tasks().get("smoke/goal-units-v1")
    scan = evaluate(task, get_methods().get("ablation-scan"), seed=0)
    variance = evaluate(task, get_methods().get("activation-variance"), seed=0)
    assert scan.status == variance.status == "ok", (scan.error, variance.error)
    assert scan.normalized_score > 0.25, scan.metrics
    assert scan.compute.forward_passes <= task.spec.budget.forward_passes
    assert variance.normalized_score < scan.normalized_score
