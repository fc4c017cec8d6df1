"""The CoinRun tasks: known answers for every metric (perfect ≈ 1, random ≈ 0, label-shuffled ≈ 0), the real
pipeline on the shipped agent, and one-line errors for bad input.

Test-split rollouts do not depend on the answer (only on the seed and the hooks read), so the known-answer
tests play them once per module and score many answers on them through the tasks' own scoring functions.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mirl.errors import InvalidAnswerError, MirlError
from mirl.pluginhost import get_tasks
from mirl.probes import fit_logistic
from mirl.schemas import Edit, Intervention, Prediction, Readout, UnitScores
from mirl.seeding import test_seed as scorer_seed
from mirl.task import TrainData
from mirl.tasklib import decode
from mirl.tasks.coinrun import tasks as T

# one xdist worker runs these and the CoinRun half of the scoring-time benchmark: they share evaluations
pytestmark = pytest.mark.xdist_group("scored-coinrun")

PREDICT, STEER, SAW, READOUT = (
    "coinrun/goal-predict-v1", "coinrun/coin-steer-v1", "coinrun/saw-locate-v1", "coinrun/coin-readout-v1",
)


def task(task_id):
    return get_tasks().get(task_id)


def mean_is_zero(values, floor: float = 0.1) -> bool:
    values = np.asarray(values)
    return abs(values.mean()) < max(floor, 2.5 * values.std() / np.sqrt(len(values)))


# ---- goal-predict ----------------------------------------------------------------------------------------


# Half of the task's 1,000 test episodes (a play of 1,000 takes ~40 s): both outcomes stay common (coin in 49%)
# and the probe below reads the outcome as it does on all of them (AUROC 0.686; the card's 0.655 is on 1,000).
PREDICT_TEST_EPISODES = 500


@pytest.fixture(scope="module")
def predict_episodes():
    t = task(PREDICT)
    hooks = ["dense.hook_out", "encoder.conv2.hook_out"]
    # as the scorer plays them: without the start-of-episode labels (a state read per env and step)
    summaries, labels = t.episodes(t.load_agent(), "test", scorer_seed(0), PREDICT_TEST_EPISODES, hooks,
                                   start_labels=False)
    return t, summaries, labels


@pytest.mark.slow
def test_both_outcomes_are_common_enough_to_predict(predict_episodes):
    """The placement distribution must give each outcome (coin / no coin) in at least 20% of test levels."""
    _, _, labels = predict_episodes
    assert 0.2 <= labels["collected"].mean() <= 0.8
    assert set(np.unique(labels["outcome"])) <= {"coin", "end", "saw", "enemy", "lava", "timeout"}


@pytest.mark.slow
def test_goal_predict_known_answers(predict_episodes):
    t, summaries, labels = predict_episodes
    y = labels["collected"]

    def score(out, collected, seed):
        states = TrainData(obs=np.zeros((len(collected), 1)), labels={"collected": collected})
        return t.score_outputs(out[:, None], states, seed).normalized_score

    assert score(y.astype(float), y, seed=0) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    random_scores, shuffled_scores = [], []
    for seed in range(10):
        w = rng.normal(size=(256, 1))
        out = decode(Prediction(weights={"dense.hook_out": w}, bias=np.zeros(1)), summaries, len(y))[:, 0]
        random_scores.append(score(out, y, seed))
        shuffled_scores.append(score(out, rng.permutation(y), seed))
    assert mean_is_zero(random_scores) and mean_is_zero(shuffled_scores), (random_scores, shuffled_scores)


@pytest.mark.slow
def test_a_probe_fitted_on_train_levels_predicts_the_outcome(predict_episodes):
    """The real pipeline: train-split episodes → a logistic probe → scored on the test episodes."""
    t, summaries, labels = predict_episodes
    view = t.view(0)
    data = view.train_data(600, ["dense.hook_out"])
    assert data.activations["dense.hook_out"].shape == (600, 256) and data.obs.shape == (600, 3, 64, 64)
    assert view.meter.env_steps > 600 * 10  # every episode's steps were counted against the budget
    w, b = fit_logistic(data.activations["dense.hook_out"], data.labels["collected"], 2)
    answer = Prediction(weights={"dense.hook_out": (w[:, 1] - w[:, 0])[:, None]}, bias=np.array([b[1] - b[0]]))
    out = decode(answer, summaries, len(labels["collected"]))
    report = t.score_outputs(out, TrainData(obs=out, labels=labels), seed=0)
    assert report.metrics["auroc"] > 0.6, report.metrics  # the card: 0.655 from dense, 0.678 from pixels


# ---- coin-readout -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def readout_states():
    t = task(READOUT)
    return t, t.test_states(t.load_agent(), scorer_seed(0), list(t.spec.hook_points))


def test_coin_classes_split_the_view_into_thirds():
    dx = np.array([-6.0, 0.0, 6.0, 0.0, 0.0, 3.0, 20.0])
    dy = np.array([6.0, 0.0, -6.0, 3.0, -3.0, -3.0, 0.0])
    visible = np.abs(dx) < 6.5
    assert T.coin_class(dx, dy, visible).tolist() == [0, 4, 8, 1, 7, 8, 9]


@pytest.mark.slow
def test_coin_readout_known_answers(readout_states):
    t, states = readout_states
    y = states.labels["coin_class"]
    assert len(y) == t.spec.test_size and len(np.unique(y)) >= 5

    def score(predicted, labels, seed):
        return t.score_outputs(np.eye(10)[predicted], TrainData(obs=states.obs, labels={"coin_class": labels}),
                               seed).normalized_score

    assert score(y, y, 0) == pytest.approx(1.0)
    assert score(np.full_like(y, np.bincount(y).argmax()), y, 0) == pytest.approx(0.0)
    rng = np.random.default_rng(1)
    random_scores, shuffled_scores = [], []
    for seed in range(10):
        answer = Readout(weights={"dense.hook_out": rng.normal(size=(256, 10))}, bias=np.zeros(10))
        predicted = decode(answer, states.activations, len(y)).argmax(1)
        random_scores.append(score(predicted, y, seed))
        shuffled_scores.append(score(rng.permutation(y), y, seed))
    assert mean_is_zero(random_scores, 0.05) and mean_is_zero(shuffled_scores, 0.05)


# ---- coin-steer -------------------------------------------------------------------------------------------


def test_coin_steer_metric_known_answers():
    t = task(STEER)
    n = 1000
    rng = np.random.default_rng(0)
    base = {"coin": rng.random(n) < 0.5, "death": rng.random(n) < 0.05}
    base["end"] = ~base["coin"] & ~base["death"]
    control = [{"coin": rng.random(n // 4) < 0.7} for _ in range(4)]  # random edits alone raise the rate
    perfect = {"coin": np.ones(n, bool), "death": np.zeros(n, bool), "end": np.zeros(n, bool)}
    assert t.score_outcomes(base, perfect, control, 0).normalized_score == pytest.approx(1.0)
    like_random = {"coin": rng.random(n) < 0.7, "death": base["death"], "end": base["end"]}
    assert abs(t.score_outcomes(base, like_random, control, 0).normalized_score) < 0.1
    # Matching the unedited agent is not a floor here: it is below what a random edit of that size does.
    assert t.score_outcomes(base, base, control, 0).normalized_score < -0.5
    reckless = {"coin": np.ones(n, bool), "death": rng.random(n) < 0.2, "end": np.zeros(n, bool)}
    tripped = t.score_outcomes(base, reckless, control, 0)
    assert tripped.normalized_score == pytest.approx(0.0) and tripped.metrics["death_guard_tripped"] == 1.0
    assert tripped.metrics["coin_rate_raw"] == 1.0


@pytest.mark.slow
def test_coin_steer_random_edit_is_one_more_draw_of_the_control(scored):
    """The random method's edit is distributed like the control's directions, so it scores ≈ 0 in expectation;
    one draw lands within the spread of directions (measured sd 0.11 in coin rate on the shipped agent).
    Scored on an eighth of the test episodes, the scoring that the scoring-time benchmark times
    (tests/benchmarks/test_task_scoring.py): the spread then holds the sampling noise of 31 episodes per direction
    as well, and the bound below grows with it (measured: coin rate 0.664 against 0.524 ± 0.067 for the control)."""
    result = scored(STEER, "random", test_size=task(STEER).spec.test_size // 8)
    assert result.status == "ok", result.error
    m = result.metrics
    assert 0.2 < m["coin_rate_unedited"] < 0.95
    assert m["coin_rate_random_edit_sd"] > 0
    assert abs(m["coin_rate_raw"] - m["coin_rate_random_edit"]) < 3 * max(m["coin_rate_random_edit_sd"], 0.05), m
    assert result.normalized_score == pytest.approx(
        (m["coin_rate"] - m["coin_rate_random_edit"]) / (1 - m["coin_rate_random_edit"]))


@pytest.mark.slow
def test_coin_steer_answers_as_in_process_through_the_parents_steering_pairs():
    """The contract test (check_method) compares sealed and in-process answers for every method on a smoke task or
    one task of its family; every method that answers CoinRun answers a smoke task, so CoinRun's check is here (~7 s,
    no scoring): the worker's copy of the IMPALA agent and the procgen-rendered pairs the parent serves give the
    same answer."""
    from mirl.pluginhost import get_methods
    from mirl.runner import sealing
    from mirl.testing import solve_twice_alike

    assert solve_twice_alike(task(STEER), get_methods().get("mean-difference"), seed=0).sealed == sealing()


# ---- saw-locate -------------------------------------------------------------------------------------------


def test_saw_locate_metric_known_answers():
    t = task(SAW)
    base = {"saw": 0.05, "enemy": 0.01, "lava": 0.01, "timeout": 0.0, "saw_levels": 0.30}
    blind = {k: dict(base, saw=0.30) for k in T.ABLATE_PERCENTS}
    report = t.score_curve({"base": base, "rates": blind})
    assert report.normalized_score == pytest.approx(1.0)
    unselective = {k: dict(base, saw=0.30, enemy=0.26) for k in T.ABLATE_PERCENTS}
    assert t.score_curve({"base": base, "rates": unselective}).metrics["selectivity_auc"] == (
        pytest.approx(0.0))
    crippled = {k: dict(base, timeout=0.5) for k in T.ABLATE_PERCENTS}
    assert t.score_curve({"base": base, "rates": crippled}).metrics["selectivity_auc"] == (
        pytest.approx(-0.5))


def test_saw_locate_orders_channels_across_layers_and_breaks_ties_fairly():
    t = task(SAW)
    scores = {h: np.zeros(shape[0]) for h, shape in T.CONV_HOOKS.items()}
    scores["encoder.conv1.hook_out"][7] = 2.0
    scores["encoder.conv2.hook_out"][3] = 1.0
    order = t.ordering(scores, seed=0)
    assert order[:2] == [("encoder.conv1.hook_out", 7), ("encoder.conv2.hook_out", 3)]
    assert len(order) == 160 and len(set(order)) == 160
    layers_first_20 = {h for h, _ in order[2:22]}
    assert len(layers_first_20) == 3  # tied channels are shuffled, not listed layer by layer


# ---- the spec, the agent and bad input --------------------------------------------------------------------


def test_the_card_records_completion_and_misgeneralisation():
    from mirl.tasks.coinrun.agent import spec

    card = json.loads(spec().card_path.read_text())
    assert card["sha256"] == T.AGENT.sha256
    metrics = card["metrics"]
    assert metrics["completion_held_out_levels"] >= 0.8
    outcomes = [metrics[f"moved_coin_{k}"] for k in ("coin", "end", "saw", "enemy", "lava", "timeout")]
    assert sum(outcomes) == pytest.approx(1.0)
    assert card["parameters"] <= 1_500_000 and card["bytes"] <= 5 * 1024 * 1024


def test_a_tampered_checkpoint_is_refused(tmp_path, monkeypatch):
    t = task(PREDICT)
    copy = tmp_path / "coinrun-ppo.pt"
    copy.write_bytes(t.checkpoint_path.read_bytes() + b"\0")
    monkeypatch.setattr(type(t), "folder", tmp_path)
    with pytest.raises(MirlError, match="sha256 .* pins .*restore the shipped file"):
        t.load_agent()


def test_an_edit_on_an_unknown_hook_is_refused_in_one_line():
    t = task(STEER)
    with pytest.raises(InvalidAnswerError, match=r"unknown hook point 'dense\.hook_outt' \(did you mean"):
        t.validate_answer(Intervention(edits=[Edit(hook="dense.hook_outt", op="add", vector=np.zeros(256))]))
    with pytest.raises(InvalidAnswerError, match="unknown hook point 'policy.hook_logits'"):
        t.validate_answer(Intervention(edits=[Edit(hook="policy.hook_logits", op="add", vector=np.zeros(15))]))


def test_saw_scores_are_one_per_channel():
    t = task(SAW)
    good = UnitScores(scores={h: np.zeros(s[0]) for h, s in T.CONV_HOOKS.items()})
    t.validate_answer(good)
    per_element = UnitScores(scores={h: np.zeros(s) for h, s in T.CONV_HOOKS.items()})
    with pytest.raises(InvalidAnswerError, match=r"expected \[32\] \(one score per channel\)"):
        t.validate_answer(per_element)


def test_readout_may_read_only_the_late_layers():
    t = task(READOUT)
    early = Readout(weights={"encoder.conv0.hook_out": np.zeros((32 * 15 * 15, 10))}, bias=np.zeros(10))
    with pytest.raises(InvalidAnswerError, match="unknown hook point 'encoder.conv0.hook_out'"):
        t.validate_answer(early)
