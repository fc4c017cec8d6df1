"""Known-answer tests for every metric: perfect → 1, random → chance, label-shuffled → chance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mirl.scoring import (
    auroc, average_precision, bootstrap_ci, brier, macro_auroc, mean_ci, normalize, pairwise_auroc, softmax,
    spearman, spearman_rows,
)


def brute_auroc(labels, scores):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_auroc_known_answers(rng):
    labels = rng.random(2000) < 0.2
    assert auroc(labels, labels.astype(float)) == 1.0
    assert auroc(labels, -labels.astype(float)) == 0.0
    assert auroc(labels, np.zeros(2000)) == 0.5  # all tied
    assert auroc(labels, rng.random(2000)) == pytest.approx(0.5, abs=0.04)
    assert auroc(rng.permutation(labels), labels.astype(float)) == pytest.approx(0.5, abs=0.04)  # shuffled
    assert np.isnan(auroc(np.ones(5, bool), np.arange(5)))


def test_auroc_matches_pairwise_definition_with_ties(rng):
    labels = rng.random(60) < 0.4
    scores = rng.integers(0, 5, size=60).astype(float)  # many ties
    assert auroc(labels, scores) == pytest.approx(brute_auroc(labels, scores))


def test_pairwise_auroc_equals_auroc_row_by_row(rng):
    positives, negatives = rng.integers(0, 4, size=(50, 4)).astype(float), rng.integers(0, 4, size=(50, 28)) * 1.0
    rows = pairwise_auroc(positives, negatives)
    labels = np.r_[np.ones(4), np.zeros(28)]
    assert rows.shape == (50,)
    assert all(row == auroc(labels, np.r_[p, n]) for row, p, n in zip(rows, positives, negatives))  # bit for bit
    assert pairwise_auroc(np.ones((1, 3)), np.zeros((1, 5)))[0] == 1.0


def test_spearman_known_answers(rng):
    truth = rng.random(15)
    assert spearman(truth, truth) == pytest.approx(1.0)
    assert spearman(np.exp(3 * truth), truth) == pytest.approx(1.0)  # any monotone map of the truth
    assert spearman(-truth, truth) == pytest.approx(-1.0)
    assert spearman(np.full(15, 0.3), truth) == 0.0  # a constant prior carries no ranking
    random = [spearman(rng.random(15), truth) for _ in range(400)]
    shuffled = [spearman(rng.permutation(truth), truth) for _ in range(400)]
    assert abs(np.mean(random)) < 0.05 and abs(np.mean(shuffled)) < 0.05
    ties = np.array([1.0, 1.0, 2.0, 3.0])  # tied values share their mean rank: Pearson on (1.5, 1.5, 3, 4)
    ranks = np.array([1.5, 1.5, 3.0, 4.0])
    assert spearman(ties, np.arange(4.0)) == pytest.approx(np.corrcoef(ranks, np.arange(4.0))[0, 1])


def test_spearman_rows_equals_spearman_row_by_row_and_gives_the_same_bootstrap(rng):
    # ties (few distinct values), constant rows and the 15 agents of maze/misgen-predict
    x, y = rng.integers(0, 5, size=(300, 15)).astype(float), rng.random((300, 15))
    x[0], y[1] = 2.0, 0.5
    rows = spearman_rows(x, y)
    assert rows.shape == (300,) and rows[0] == rows[1] == 0.0
    assert all(row == spearman(a, b) for row, a, b in zip(rows, x, y))  # bit for bit
    predicted, measured = rng.random(15), rng.random(15)
    loop = bootstrap_ci(spearman, predicted, measured, rng=np.random.default_rng(7))
    assert bootstrap_ci(spearman, predicted, measured, rng=np.random.default_rng(7), rowwise=spearman_rows) == loop


def test_average_precision_known_answers(rng):
    labels = rng.random(4000) < 0.125
    assert average_precision(labels, labels.astype(float)) == 1.0
    assert average_precision(labels, rng.random(4000)) == pytest.approx(labels.mean(), abs=0.03)
    assert average_precision(rng.permutation(labels), labels.astype(float)) == pytest.approx(labels.mean(), abs=0.03)
    # all scores tied: precision is the prevalence at the only threshold
    assert average_precision(labels, np.ones(4000)) == pytest.approx(labels.mean())


def test_macro_auroc_and_brier_known_answers(rng):
    labels = rng.integers(0, 4, size=3000)
    perfect = np.eye(4)[labels] * 10
    assert macro_auroc(labels, perfect) == 1.0
    assert macro_auroc(labels, rng.normal(size=(3000, 4))) == pytest.approx(0.5, abs=0.03)
    assert macro_auroc(rng.permutation(labels), perfect) == pytest.approx(0.5, abs=0.03)
    assert brier(labels, np.eye(4)[labels]).max() == 0.0
    assert brier(labels, np.full((3000, 4), 0.25)).mean() == pytest.approx(0.75)
    np.testing.assert_allclose(softmax(np.array([[0.0, 0.0], [1000.0, 0.0]])), [[0.5, 0.5], [1.0, 0.0]])


def test_bootstrap_ci_covers_the_estimate_and_shrinks_with_n(rng):
    small = (rng.random(100) < 0.7).astype(float)
    large = (rng.random(10_000) < 0.7).astype(float)
    lo, hi = mean_ci(small, rng)
    assert lo <= small.mean() <= hi
    lo2, hi2 = mean_ci(large, rng)
    assert hi2 - lo2 < (hi - lo) / 5
    labels = rng.random(400) < 0.3
    scores = labels + rng.normal(size=400)
    lo, hi = bootstrap_ci(auroc, labels, scores, rng=rng, n_boot=300)
    assert lo < auroc(labels, scores) < hi


def test_bootstrap_is_reproducible_for_a_seed():
    values = np.arange(50) % 3 == 0
    a = mean_ci(values, np.random.default_rng(7))
    b = mean_ci(values, np.random.default_rng(7))
    assert a == b


def test_normalize_maps_anchors():
    assert normalize(0.5, 0.5, 1.0) == 0.0
    assert normalize(1.0, 0.5, 1.0) == 1.0
    assert normalize(0.2, 0.8, 0.0) == pytest.approx(0.75)  # lower is better: ceiling below floor
    assert np.isnan(normalize(1.0, 1.0, 1.0))


def test_paired_bootstrap_known_answers():
    from mirl.scoring import paired_bootstrap

    rng = np.random.default_rng(0)
    base = rng.random(400)
    same = paired_bootstrap(base, base.copy(), rng)
    assert same["difference"] == 0 and same["ci_low"] == same["ci_high"] == 0
    better = (rng.random(400) < 0.7).astype(float)
    worse = np.where(rng.random(400) < 0.5, better, 0.0)  # never above `better`, below it on ~35% of instances
    result = paired_bootstrap(better, worse, rng)
    assert result["ci_low"] > 0.25 and result["p_not_better"] == 0.0
    shuffled = paired_bootstrap(better, better[rng.permutation(400)], rng)
    assert shuffled["ci_low"] < 0 < shuffled["ci_high"]
    with pytest.raises(ValueError, match="equal-length"):
        paired_bootstrap(np.ones(3), np.ones(4), rng)


def test_cluster_bootstrap_resamples_whole_clusters():
    from mirl.scoring import cluster_bootstrap_ci

    rng = np.random.default_rng(0)
    clusters = np.repeat(np.arange(40), 5)
    values = rng.normal(size=40)[clusters]  # every instance of a cluster alike: 40 draws, not 200
    low, high = cluster_bootstrap_ci(np.mean, values, clusters=clusters, rng=np.random.default_rng(1))
    picks = np.random.default_rng(1).integers(0, 40, size=(1000, 40))
    means = values[::5][picks].mean(1)
    assert np.allclose((low, high), np.quantile(means, [0.025, 0.975]), rtol=0, atol=1e-12)
    # the general path (any statistic) resamples the same clusters
    general = cluster_bootstrap_ci(lambda v: float(np.mean(v)), values, clusters=clusters, rng=np.random.default_rng(1))
    assert np.allclose(general, (low, high))
    # one instance per cluster: an ordinary bootstrap of the mean
    alone = cluster_bootstrap_ci(np.mean, values, clusters=np.arange(200), rng=np.random.default_rng(2))
    assert np.allclose(alone, mean_ci(values, np.random.default_rng(2)), atol=0.02)


def test_cluster_bootstrap_covers_clustered_data_where_a_per_instance_bootstrap_does_not():
    """Known answer on simulated levels: 30 levels × 20 states, the level explaining most of the variance; the
    true mean is 0. A 95% CI should cover it ~95% of the time."""
    from mirl.scoring import cluster_bootstrap_ci

    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(30), 20)
    covered = {"cluster": 0, "instance": 0}
    trials = 200
    for _ in range(trials):
        values = rng.normal(size=30)[clusters] + 0.2 * rng.normal(size=600)
        low, high = cluster_bootstrap_ci(np.mean, values, clusters=clusters, rng=rng, n_boot=400)
        covered["cluster"] += low <= 0 <= high
        low, high = mean_ci(values, rng, n_boot=400)
        covered["instance"] += low <= 0 <= high
    assert covered["cluster"] / trials > 0.88 and covered["instance"] / trials < 0.5, covered
