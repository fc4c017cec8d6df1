"""The planted doorkey tasks end to end on the shipped planted agents: the truth scores 1, random answers ~0,
a correlation ranking is fooled by the decoys while a causal scan is not, and DAS finds the rotated subspace."""

from __future__ import annotations

import numpy as np
import pytest

from mirl.errors import MirlError
from mirl.pluginhost import get_agents, get_methods, get_tasks
from mirl.runner import evaluate
from mirl.tasks.doorkey import tasks as T

PLANTED, SUBSPACE = "doorkey/haskey-planted-v1", "doorkey/subspace-planted-v1"

# one xdist worker runs these and the contract checks of the methods that only doorkey tasks check: they share
# evaluations (tests/conftest.py: scored)
pytestmark = pytest.mark.xdist_group("scored-doorkey")


@pytest.fixture
def run(scored):
    """``run(task_id, method, seed=0)``: the (shared, see tests/conftest.py) evaluation, asserted ok."""

    def run(task_id: str, method: str, seed: int = 0):
        result = scored(task_id, method, seed)
        assert result.status == "ok", result.error
        return result

    return run


def oracle(task_id: str):
    task = get_tasks().get(task_id)
    return task, task.score(task.validate_answer(task.oracle_answer(task.view(0))), 0)


def test_the_planted_agents_are_pinned_and_their_cards_show_the_plant():
    cards = {a.id: a.read_card()["metrics"] for a in get_agents() if a.id.startswith("doorkey-planted")}
    assert set(cards) == {"doorkey-planted", "doorkey-planted-subspace"}
    assert get_tasks().get(PLANTED).spec.agent.sha256 == T.PLANTED_SHA256
    assert get_tasks().get(SUBSPACE).spec.agent.sha256 == T.SUBSPACE_SHA256
    for facts in cards.values():
        assert facts["success_greedy"] >= 0.95
        assert facts["iia_plant"] >= 0.9 and facts["iia_random_max"] < 0.5
    channels = cards["doorkey-planted"]
    assert channels["decoy_decoding_accuracy"] >= 0.95 and channels["iia_decoys"] <= channels["iia_random_max"]


@pytest.mark.slow
def test_the_planted_channels_score_one_and_random_scores_score_about_zero(run):
    _, truth = oracle(PLANTED)
    assert truth.score == 1.0 and truth.normalized_score == 1.0
    assert truth.metrics["iia_10pct"] >= 0.9  # the top 10% (4 channels) are the plant: patching them works
    random = [run(PLANTED, "random", seed).normalized_score for seed in (0, 1, 2)]
    assert abs(np.mean(random)) < 0.3, random


@pytest.mark.slow
def test_decoys_fool_a_correlation_ranking_but_not_a_causal_scan(run):
    correlation, scan = run(PLANTED, "unit-correlation"), run(PLANTED, "interchange-scan")
    # measured: scan 0.946 (0.81 against the decoys alone), correlation 0.58 (0.44 against the decoys)
    assert scan.score >= 0.9, scan.metrics
    assert correlation.metrics["auroc_vs_decoys"] <= 0.6, correlation.metrics
    assert scan.score - correlation.score >= 0.2, (scan.metrics, correlation.metrics)
    assert scan.metrics["auroc_vs_decoys"] - correlation.metrics["auroc_vs_decoys"] >= 0.2
    probe = run(PLANTED, "probe-weight")  # measured 0.741, 0.44 against the decoys: fooled the same way
    assert probe.metrics["auroc_vs_decoys"] <= 0.6 and scan.score > probe.score, probe.metrics


@pytest.mark.slow
def test_the_planted_subspace_scores_about_one_and_random_subspaces_about_zero(run):
    _, truth = oracle(SUBSPACE)
    assert truth.score >= 0.9 and truth.normalized_score >= 0.85 and truth.metrics["overlap"] == pytest.approx(1.0)
    random = [run(SUBSPACE, "random", seed).normalized_score for seed in (0, 1)]
    assert abs(np.mean(random)) < 0.15, random


@pytest.mark.slow
def test_das_finds_the_rotated_subspace_that_unit_methods_cannot(run):
    das = run(SUBSPACE, "das")
    assert das.normalized_score >= 0.7, das.metrics
    probe = run(SUBSPACE, "linear-probe")
    assert das.score > probe.score, (das.metrics, probe.metrics)


def test_a_checkpoint_that_is_not_the_pinned_one_is_refused():
    task = T.HasKeyPlanted("0" * 64)
    with pytest.raises(MirlError, match="sha256 .* but doorkey/haskey-planted-v1 pins 000000000000"):
        task.load_agent()


# ---- state-readout (doorkey-ppo's task; measured here on the planted agent, which decodes the same variables) ----


def readout_task():
    return T.StateReadout("doorkey-planted", T.PLANTED_SHA256)


def test_state_readout_metric_known_answers():
    task = readout_task()
    labels = np.random.default_rng(0).choice(3, size=3000, p=T.KEY_DOOR_PRIOR)
    perfect = task.score_classes(labels, labels, majority=0, seed=0)
    assert perfect.score == 1.0 and perfect.normalized_score == 1.0
    majority = task.score_classes(np.zeros_like(labels), labels, majority=0, seed=0)
    assert majority.normalized_score == pytest.approx(0.0)
    shuffled = task.score_classes(np.random.default_rng(1).permutation(labels), labels, majority=0, seed=0)
    assert shuffled.normalized_score < 0.05
    # door_open implies has_key: predicting "door open" for a key-only state is right about the key
    one = task.score_classes(np.array([2]), np.array([1]), majority=0, seed=0)
    assert one.metrics["has_key_accuracy"] == 1.0 and one.metrics["door_open_accuracy"] == 0.0


@pytest.mark.slow
def test_a_probe_reads_the_state_and_the_control_task_measures_its_selectivity():
    from mirl.tasks.doorkey.env import DoorKeyVecEnv

    env = DoorKeyVecEnv(4, seed=0)
    env.reset(seed=0)
    states = env.states()
    assert (T.control_class(states) == T.control_class(states)).all()  # a fixed function of the state's type
    probe = evaluate(readout_task(), get_methods().get("linear-probe"), seed=0)
    assert probe.status == "ok" and probe.normalized_score > 0.9, probe.metrics
    assert 0 < probe.metrics["selectivity"] == pytest.approx(probe.score - probe.metrics["control_score"])
    random = evaluate(readout_task(), get_methods().get("random"), seed=0)
    assert random.normalized_score < 0.1


@pytest.mark.slow
def test_a_failing_control_run_keeps_the_result(mirl_plugin):
    from mirl.method import Method
    from mirl.schemas import MethodInfo

    class OnlyRealTarget(Method):
        info = MethodInfo(name="only-real-target", version="1", answer_kinds=["readout"], description="test")

        def solve(self, view):
            if view.spec.target != "key_door":
                raise RuntimeError("no control for me")
            return get_methods().get("linear-probe")().solve(view)

    result = evaluate(readout_task(), OnlyRealTarget, seed=0)
    assert result.status == "ok" and result.metrics["control_failed"] == 1.0 and "selectivity" not in result.metrics


# ---- the naturally trained doorkey-ppo: haskey-locate and state-readout ----

LOCATE, READOUT, READOUT_V2 = "doorkey/haskey-locate-v1", "doorkey/state-readout-v1", "doorkey/state-readout-v2"


def test_doorkey_ppo_is_pinned_and_nothing_is_planted_in_it():
    (card,) = [a.read_card() for a in get_agents() if a.id == "doorkey-ppo"]
    facts = card["metrics"]
    assert get_tasks().get(LOCATE).spec.agent.sha256 == T.DOORKEY_PPO_SHA256 == card["sha256"]
    assert facts["success_sampled"] >= 0.95 and facts["success_greedy"] >= 0.95
    # the planted agents' channels and subspace, read in the natural agent: no better than random sets
    assert facts["contrast_channels_iia_plant"] <= facts["contrast_channels_iia_random_max"]
    assert facts["contrast_subspace_iia_plant"] <= facts["contrast_subspace_iia_random_max"]


@pytest.mark.slow
def test_haskey_locate_random_scores_about_zero_and_scans_beat_it(run):
    random = [run(LOCATE, "random", seed).normalized_score for seed in (0, 1)]
    assert abs(sum(random) / 2) < 0.15, random  # measured 0.041, 0.065
    scan = run(LOCATE, "interchange-scan")  # measured 0.328 (0.16 normalised)
    assert scan.normalized_score > max(random) + 0.05, (scan.metrics, random)
    assert scan.metrics["iia_10pct"] > scan.metrics["iia_1pct"]  # more patched channels, more of has_key moved


@pytest.mark.slow
def test_state_readout_on_doorkey_ppo_decodes_the_state_with_a_selectivity(run):
    probe = run(READOUT, "linear-probe")  # measured 0.990, control 0.955, selectivity 0.035
    assert probe.normalized_score > 0.8 and probe.metrics["has_key_accuracy"] > 0.95, probe.metrics
    assert probe.metrics["selectivity"] == pytest.approx(probe.score - probe.metrics["control_score"])
    assert run(READOUT, "random").normalized_score < 0.1


@pytest.mark.slow
def test_state_readout_v2_holds_out_whole_layouts_and_still_decodes(run):
    from mirl.seeding import derive_seed
    from mirl.tasks.doorkey import env as D

    task = get_tasks().get(READOUT_V2)
    test, train = T.pool_for(derive_seed(0, "pool"), "test", "test").states, task.train_pool(task.view(0)).states
    env = D.DoorKeyVecEnv(8, seed=0, split="train", layouts="train")
    env.reset(seed=0)
    assert {D.layout_split(s.door) for s in test} == {"test"}  # every test state is on a held-out layout
    assert {D.layout_split(s.door) for s in [*train, *env.states()]} == {"train"}
    assert not {s.grid[:, :, 0].tobytes() for s in train} & {s.grid[:, :, 0].tobytes() for s in test}
    probe = run(READOUT_V2, "linear-probe")  # measured 0.985 (0.89 normalised), selectivity 0.074
    assert probe.normalized_score > 0.75 and probe.metrics["has_key_accuracy"] > 0.95, probe.metrics
    assert run(READOUT_V2, "random").normalized_score < 0.1
