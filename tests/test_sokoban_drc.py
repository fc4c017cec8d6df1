"""The shipped DRC and the Sokoban tasks end to end: the checkpoint is the card's and its solve rate
reproduces; random answers score at or about the floor on every task; a conv probe on the recurrent state reads the
plan better than the observation-only floor; plan-steer-v2's shipped levels are the agent's own shortcuts, and the
mean-difference vector steers it off them."""

from __future__ import annotations

import json

import pytest
import torch

from mirl.agents import sha256_file
from mirl.pluginhost import get_methods, get_tasks
from mirl.testing import check_method, resized
from mirl.tasks.sokoban import agent as A
from mirl.tasks.sokoban import env as S
from mirl.tasks.sokoban import tasks as T

READOUT, STEER, LOCATE = "sokoban/plan-readout-v1", "sokoban/plan-steer-v1", "sokoban/plan-locate-v1"
STEER2 = "sokoban/plan-steer-v2"


@pytest.fixture
def run(scored):
    """``run(task_id, method, seed=0)``: the (shared, see tests/conftest.py) evaluation, asserted ok."""

    def run(task_id: str, method: str, seed: int = 0, **sizes: int):
        result = scored(task_id, method, seed, **sizes)
        assert result.status == "ok", result.error
        return result

    return run


@pytest.mark.slow
def test_the_drc_is_pinned_and_its_card_reproduces():
    spec = A.spec_drc()
    card = json.loads(spec.card_path.read_text())
    assert sha256_file(spec.checkpoint_path) == card["sha256"] == T.AGENT_SHA256
    assert {t.spec.id for t in T.TASKS} == {READOUT, STEER, STEER2, LOCATE}
    facts = card["metrics"]
    for k in (2, 4, 8):
        assert 0 <= facts[f"test_solved_2box_thinking{k}"] <= 1
    for target in T.TARGETS:  # the card's plan probes: the recurrent state against the observation, same kernel
        for kernel in ("1x1", "3x3"):
            assert facts[f"plan_probe_{target}_f1_hidden_{kernel}"] > facts[f"plan_probe_{target}_f1_observation_{kernel}"]
    agent = spec.build()
    agent.load_state_dict(torch.load(spec.checkpoint_path, map_location="cpu", weights_only=True))
    agent.eval()
    rate = T.play(agent, S.level_pool("test", 2)[:300], seed=3).terminated.mean()
    assert abs(rate - facts["test_solved_2box"]) < 0.06, (rate, facts["test_solved_2box"])


# Smaller splits for the random-answer checks (mirl.testing.resized): one full scoring of each task with random
# answers takes 25 / 136 / 86 / 73 s (readout / steer / steer-v2 / locate, one idle thread), these 8 / 9 / 14 / 17 s
# (2026-12-07; steer's level search, ~1 in 30 candidates solved and kept, and locate's unit means are most of what
# is left; steer-v2's unedited play is shared with the mean-difference test below), and random lands where it does at
# full size (measured normalised: readout −0.37 at 500/500 states, −0.32 at 1,000/1,000, vs −0.30; steer 0.00 at
# 10, 20, 50 and 100 levels vs 0.00; steer-v2 0.00 at 50 and 100; locate 0.05 at 30 levels, 0.12 at 60 and 120,
# vs 0.16), well inside the bounds below.
SMALL = {READOUT: dict(train_size=500, test_size=500), STEER: dict(test_size=10), STEER2: dict(test_size=50),
         LOCATE: dict(test_size=30)}


@pytest.mark.slow
def test_random_answers_score_at_the_floor_of_every_sokoban_task(run):
    readout = run(READOUT, "random", **SMALL[READOUT])
    # random decoder weights predict worse than the observation-only probe that sets the floor
    assert readout.normalized_score <= 0.05 and readout.score < readout.metrics["observation_probe_macro_f1"]
    for task_id in (STEER, STEER2):
        steer = run(task_id, "random", **SMALL[task_id])
        assert abs(steer.normalized_score) < 0.25, steer.metrics
    locate = run(LOCATE, "random", **SMALL[LOCATE])
    assert abs(locate.normalized_score) < 0.25, locate.metrics


@pytest.mark.slow
def test_a_conv_probe_on_the_recurrent_state_beats_the_observation_floor(run):
    # On a smaller plan-readout: a conv-probe run is 3 L-BFGS fits per label map over every spatial hook point,
    # ~260 s for 2,000 train states on one thread. At 300 train / 300 test states it takes ~45 s and keeps the
    # ordering the full task shows (full size: macro-F1 0.416 against the observation probe's 0.326, 0.13
    # normalised; here 0.384 against 0.353, box maps 0.457, random 0.12), so the assertions below are the full
    # task's, with the box maps carrying the margin.
    probe = run(READOUT, "conv-probe", train_size=300, test_size=300)
    assert probe.normalized_score > 0.02, probe.metrics
    assert probe.metrics["box_macro_f1"] > probe.metrics["observation_probe_macro_f1"] + 0.05, probe.metrics


@pytest.mark.slow
def test_conv_probe_honours_the_contract():
    # valid and deterministic answers need no particular size: a sixth of the states above, run twice (~15 s)
    (probe,) = check_method(get_methods().get("conv-probe"),
                            tasks=[resized(get_tasks().get(READOUT), train_size=50, test_size=50)])
    assert probe.status == "ok"


@pytest.mark.slow
def test_plan_steer_v2_levels_are_the_agents_own_shortcuts():
    task = get_tasks().get(STEER2)
    agent = task.load_agent()
    levels, train = T.shipped_steer_levels("test"), T.shipped_steer_levels("train")
    assert (len(levels), len(train)) == (task.spec.test_size, 600)
    # distinct levels, each in its split as shipped (turned, a held-out level could have become a train one)
    assert len(set(levels.keys())) == len(levels) and len(set(train.keys())) == len(train)
    assert (levels.splits() == "test").all() and (train.splits() == "train").all()
    out = T.play(agent, levels, greedy=True)
    shortcut = (T.SHORTCUT[0] + 1) * T.SIZE + T.SHORTCUT[1] + 1
    # unedited and greedy, the agent crosses the shortcut square before its first push and solves every level
    assert out.terminated.all() and out.final_info["visited_before_push"][:, shortcut].all()
    for i in range(len(levels)):  # and walling the square off makes the way to that push >= DETOUR longer
        blocked, start, pushed_from = levels.walls[i] | levels.boxes[i], int(levels.agent[i]), out.final_info["first_push_from"][i]
        near = T._walk_distances(blocked, start, T.SIZE)[pushed_from]
        far = T._walk_distances_without(blocked, shortcut, start, T.SIZE)[pushed_from]
        assert near + T.DETOUR <= far < 10**6


@pytest.mark.slow
def test_the_mean_difference_vector_steers_the_agent_onto_the_long_route(run):
    # measured on all 300 levels: 0.807 of the levels by the long route (solved 90%) against 0.053 under
    # size-matched random edits: 0.80 normalised; unedited, 0 by construction (the agent takes the shortcut on
    # every level). Scored here on the first 50 levels (SMALL), as random is: 0.85 normalised (0.86 against 0.065),
    # as on the first 100
    steer = run(STEER2, "mean-difference", **SMALL[STEER2])
    assert steer.metrics["long_route_rate_unedited"] == 0.0 and steer.metrics["solve_rate_unedited"] == 1.0
    assert steer.normalized_score > 0.5, steer.metrics
