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


def test_logistic_fit_with_one_head_per_column_leaves_out_minus_one_and_matches_separate_fits():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 6))
    y = np.stack([(x[:, 0] > 0).astype(int) + (x[:, 0] > 1), (x[:, 2] > 0) * 2], axis=1)  # 3 classes per column
    y[rng.random(y.shape) < 0.2] = -1  # left out: walls, say
    w, b = fit_logistic(x, y, 3, l2=1e-3)
    assert w.shape == (6, 6) and b.shape == (6,)
    predicted = (x @ w + b).reshape(600, 2, 3).argmax(-1)
    keep = y >= 0
    assert (predicted[keep] == y[keep]).mean() > 0.95
    for g in range(2):  # the joint fit is the separate fits: the heads share nothing but the loss's mean
        rows = y[:, g] >= 0
        wg, bg = fit_logistic(x[rows], y[rows, g], 3, l2=1e-3 * keep.sum() / rows.sum(), max_iter=300)
        agree = ((x @ wg + bg).argmax(1) == predicted[:, g])[rows].mean()
        assert agree > 0.97, (g, agree)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        fit_logistic(x, np.full(600, -1), 3)


@pytest.mark.slow
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


def test_nmf_recovers_a_planted_non_negative_factorisation():
    from mirl.plugins.probes.nmf import nmf

    rng = np.random.default_rng(0)
    truth = rng.uniform(size=(500, 3)) @ rng.uniform(size=(3, 12))
    loadings, factors = nmf(truth, 3, iterations=500, seed=1)
    assert (loadings >= 0).all() and (factors >= 0).all()
    assert np.linalg.norm(loadings @ factors - truth) / np.linalg.norm(truth) < 0.02
    again = nmf(truth, 3, iterations=500, seed=1)
    np.testing.assert_array_equal(again[0], loadings)
    with pytest.raises(ValueError, match="non-negative"):
        nmf(truth - 1.0, 3)


@pytest.mark.parametrize("shape", [(6, 3, 3), (10,)])
def test_nmf_probe_folds_into_a_decoder_on_the_raw_activations(shape):
    """Probe weights on the factor loadings, folded back, give the same outputs on raw (even negative) inputs."""
    from mirl.plugins.probes.nmf import _Factorisation

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, int(np.prod(shape))))
    factorisation = _Factorisation(x, shape, 4, seed=0)
    features = factorisation.features(x)
    assert features.shape == (200, 4 * int(np.prod(shape[1:])))
    w, b = rng.normal(size=(features.shape[1], 5)), rng.normal(size=5)
    weights, bias = factorisation.decoder(w, b)
    np.testing.assert_allclose(x @ weights + bias, features @ w + b, atol=1e-8)


@pytest.mark.slow
def test_nmf_probe_reads_the_smoke_goal_and_predicts_the_next_action():
    """Measured: 1.00 and 0.997 normalised (linear-probe: 1.00, 0.998); maze/goal-readout 0.586 (0.574)."""
    results = check_method(get_methods().get("nmf-probe"), task_ids=["smoke/goal-readout-v1", "smoke/next-action-v1"])
    for result in results:
        assert result.normalized_score > 0.95, (result.task_id, result.metrics)


def test_prior_and_observation_only_predictors_bracket_the_smoke_next_action():
    """prior ranks nothing (AUROC exactly 0.5) but is calibrated (Brier below random's); the observation alone
    predicts the smoke agent's move well (it sees both positions), which is what an activation probe must beat."""
    from mirl.pluginhost import get_tasks
    from mirl.runner import evaluate

    (prior,) = check_method(get_methods().get("prior"), task_ids=["smoke/next-action-v1"])
    (obs_only,) = check_method(get_methods().get("obs-only-predictor"), task_ids=["smoke/next-action-v1"])
    random = evaluate(get_tasks().get("smoke/next-action-v1"), get_methods().get("random"), seed=0)
    assert prior.score == 0.5 and prior.metrics["brier"] < random.metrics["brier"]
    assert obs_only.normalized_score > 0.9  # measured 0.974
    task = get_tasks().get("smoke/next-action-v1")
    answer = get_methods().get("obs-only-predictor")().solve(task.view(0))
    assert list(answer.weights) == ["hook_obs"]
