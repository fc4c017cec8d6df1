"""The task library's pieces: known answers for its reports and helpers."""

from __future__ import annotations

import numpy as np

from mirl.schemas import Readout
from mirl.scoring import auroc
from mirl.tasklib import decode, mean_ablation, mean_report, rate_curve_ci, statistic_report, top_units


def test_decode_is_the_linear_answer_on_flattened_activations():
    rng = np.random.default_rng(0)
    acts = {"a": rng.normal(size=(5, 2, 3)), "b": rng.normal(size=(5, 4))}
    answer = Readout(weights={"a": rng.normal(size=(6, 3)), "b": rng.normal(size=(4, 3))}, bias=np.arange(3.0))
    expected = acts["a"].reshape(5, 6) @ answer.weights["a"] + acts["b"] @ answer.weights["b"] + np.arange(3.0)
    assert np.allclose(decode(answer, acts, 5), expected)


def test_mean_report_keeps_instances_and_brackets_its_mean():
    hits = np.array([1, 0, 1, 1, 0, 1, 1, 1] * 25, dtype=bool)
    report = mean_report(hits, seed=3, name="accuracy", floor=0.25, ceiling=1.0, metrics={"extra": 2.0})
    assert report.score == report.metrics["accuracy"] == 0.75 and report.metrics["extra"] == 2.0
    assert report.ci[0] < 0.75 < report.ci[1] and report.n == 200 and report.instances.dtype == np.float64
    assert report.normalized_score == (0.75 - 0.25) / 0.75
    assert mean_report(hits, seed=3, floor=0, ceiling=1).ci == report.ci  # one bootstrap seed per run seed


def test_statistic_report_known_answers_perfect_shuffled_random():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 400)
    perfect = statistic_report(auroc, labels, labels + 0.1, seed=0, name="auroc", floor=0.5, ceiling=1.0)
    assert perfect.score == 1.0 and perfect.ci == (1.0, 1.0) and perfect.normalized_score == 1.0
    shuffled = statistic_report(auroc, rng.permutation(labels), labels.astype(float), seed=0, floor=0.5, ceiling=1.0)
    noise = statistic_report(auroc, labels, rng.random(400), seed=0, floor=0.5, ceiling=1.0)
    for report in (shuffled, noise):
        assert abs(report.normalized_score) < 0.2 and report.ci[0] < 0.55 and report.ci[1] > 0.45


def test_top_units_round_up_and_mean_ablation_groups_by_hook_in_order():
    order = [("b", 3), ("a", 1), ("b", 0), ("a", 0)] + [("c", i) for i in range(96)]
    assert top_units(order, 1) == [("b", 3)] and top_units(order, 2.5) == order[:3]
    assert top_units(order[:10], 1) == order[:1] and top_units(order[:10], 0) == []
    assert top_units(order[:10], 0, at_least_one=True) == order[:1]
    means = {"a": np.zeros((2, 1)), "b": np.ones((4, 1)), "c": np.ones((96, 1))}
    edits = mean_ablation(order[:3], means, ["a", "b", "c"])
    assert [(e.hook, e.channels, e.op) for e in edits] == [("a", [1], "mean_ablate"), ("b", [0, 3], "mean_ablate")]


def test_rate_curve_ci_is_the_binomial_normal_approximation():
    low, high = rate_curve_ci(0.2, [0.5, 0.5], 0.5, n=100)
    se = np.sqrt(2 * 0.25 / 100 / 4 + 0.25 / 100)
    assert np.isclose(high - 0.2, 1.96 * se) and np.isclose(0.2 - low, 1.96 * se)
    assert rate_curve_ci(0.0, [0.0, 1.0], 0.0, n=10) == (0.0, 0.0)


def test_hash_split_holds_out_a_fixed_fraction_by_content():
    from mirl.seeding import hash_split

    keys = [i.to_bytes(4, "little") for i in range(20_000)]
    splits = [hash_split(k) for k in keys]
    assert 0.09 < splits.count("test") / len(keys) < 0.11
    assert [hash_split(k) for k in reversed(keys)] == splits[::-1]  # a property of the key, not of the order
    assert 0.18 < [hash_split(k, 5) for k in keys].count("test") / len(keys) < 0.22


def test_reports_resample_clusters_when_told_them():
    rng = np.random.default_rng(4)
    clusters = np.repeat(np.arange(20), 10)
    hits = (rng.random(20)[clusters] < 0.5)  # each level all right or all wrong
    per_state = mean_report(hits, seed=0, floor=0, ceiling=1)
    per_level = mean_report(hits, seed=0, floor=0, ceiling=1, clusters=clusters)
    assert per_level.score == per_state.score
    assert per_level.ci[1] - per_level.ci[0] > 2 * (per_state.ci[1] - per_state.ci[0])  # 20 draws, not 200
    labels = np.tile([0, 1], 100)
    scores = labels + rng.normal(size=200)
    by_level = statistic_report(auroc, labels, scores, seed=0, floor=0.5, ceiling=1.0, clusters=clusters, n_boot=200)
    assert by_level.score == auroc(labels, scores) and by_level.ci[0] < by_level.score < by_level.ci[1]


def test_measured_facts_pool_seeds_and_resample_their_clusters():
    from mirl.tasklib import measured_facts

    def levels_alike(seed):  # 10 levels of 5 episodes each; every episode of a level ends alike
        outcome = np.random.default_rng(seed).random(10) < 0.6
        return np.repeat(outcome, 5), np.repeat(np.arange(10), 5)

    def always(seed):
        return np.ones(7), np.arange(7)

    facts = measured_facts({"alike": levels_alike, "always": always})
    pooled = np.concatenate([levels_alike(s)[0] for s in (0, 1, 2)])
    assert facts["metrics"]["alike"] == pooled.mean() and facts["card_seeds"] == [0, 1, 2]
    assert facts["metrics"]["always"] == 1.0 and facts["intervals"]["always"] == [1.0, 1.0]
    low, high = facts["intervals"]["alike"]
    assert low < pooled.mean() < high and high - low > 0.25  # 30 levels, not 150 episodes


def test_an_r2_readout_scores_perfect_1_shuffled_and_random_0():
    import types

    from mirl.scoring import r2_per_output
    from mirl.tasklib import ReadoutTask

    rng = np.random.default_rng(0)
    values = rng.random((400, 5))  # e.g. per-arm value estimates
    task = ReadoutTask()
    task.spec = types.SimpleNamespace(primary_metric="r2", id="icrl/toy-v1")
    perfect = task.score_by_metric(values.copy(), values, seed=0)
    assert perfect.score == 1.0 and perfect.ci[0] == 1.0 and perfect.metrics["r2_raw"] == 1.0
    shuffled = task.score_by_metric(values[rng.permutation(400)], values, seed=0)
    random = task.score_by_metric(rng.normal(size=(400, 5)) * 10, values, seed=0)
    means = task.score_by_metric(np.tile(values.mean(0), (400, 1)), values, seed=0)
    for report in (shuffled, random, means):
        assert report.score < 0.02 and report.metrics["r2_raw"] <= 1e-12  # floored at 0; the raw R² says by how much
    assert random.metrics["r2_raw"] < -100
    noisy = task.score_by_metric(values + rng.normal(size=values.shape) * 0.5 * values.std(0), values, seed=0)
    assert abs(noisy.score - 0.75) < 0.05 and noisy.floor == 0.0 and noisy.ceiling == 1.0  # 1 − (1/2)²
    np.testing.assert_allclose(r2_per_output(values[:, :2], values[:, :2] * 0 + values[:, :2].mean(0)), [0, 0])
