"""The maze tasks' metrics on known answers, and their episode machinery on an untrained network.

(The tasks are registered once `maze-ppo` ships; until then these tests build the task classes directly.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mirl.tasks.maze import tasks as T
from mirl.tasks.maze.env import MOVES, corner_square, maze_labels

UNPINNED = "0" * 64


@pytest.fixture(scope="module")
def untrained():
    torch.manual_seed(0)
    return T.GoalReadout(UNPINNED).build_agent().eval()


def test_goal_readout_known_answers():
    task = T.GoalReadout(UNPINNED)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 49, size=2000)
    assert task.score_predictions(labels, labels, 0).normalized_score == pytest.approx(1.0)
    random = [task.score_predictions(rng.integers(0, 49, size=2000), labels, s).score for s in range(5)]
    assert abs(np.mean(random) - 1 / 49) < 0.01  # uniform guessing over 49 squares, below the 1/30 floor


def test_goal_readout_states_carry_exact_goal_squares(untrained):
    task = T.GoalReadout(UNPINNED)
    states = task.states(untrained, 1, 300, ["dense.hook_out"], None, "test")
    goal_planes = states.obs[:, 2].reshape(300, -1)
    assert (goal_planes.argmax(1) == states.labels["goal_inner_square"]).all()
    assert states.activations["dense.hook_out"].shape == (300, 64)


def test_retarget_known_answers_and_episodes(untrained):
    task = T.Retarget(UNPINNED)
    n = 500
    none, full = np.zeros(n, bool), np.ones(n, bool)
    assert task.score_rates(none, full, full, 0).normalized_score == pytest.approx(1.0)
    half = np.arange(n) < n // 2
    assert task.score_rates(half, half, full, 0).normalized_score == pytest.approx(0.0)
    reached = task.reach_rate(untrained, 5)
    assert reached.shape == (n,) and reached.mean() < 0.2  # an untrained net rarely walks there in time


def test_goal_suppress_known_answers_and_decision_squares(untrained):
    task = T.GoalSuppress(UNPINNED)
    env = task.mazes(3)
    for i in range(50):
        facts = maze_labels(env.walls[i], tuple(env.goal[i]))
        assert not facts["goal_on_corner_path"]  # test goals are off the corner path by construction
        assert facts["decision_square"] != corner_square(9)
    p = task.decision_probabilities(untrained, env)
    assert p.shape == (task.spec.test_size,) and ((0 < p) & (p < 1)).all()
    corner = np.ones(len(p), bool)
    assert task.score_parts(p, np.zeros_like(p), corner, corner, 0).normalized_score == pytest.approx(1.0)
    assert task.score_parts(p, p, corner, corner, 0).normalized_score == pytest.approx(0.0)
    crippled = task.score_parts(p, np.zeros_like(p), corner, np.arange(len(p)) < len(p) // 2, 0)
    assert crippled.normalized_score == pytest.approx(0.0) and crippled.metrics["competence_guard_tripped"] == 1.0
    assert MOVES.shape == (4, 2)


@pytest.mark.parametrize("target,message", [
    ((2, 2), "is a wall in every maze"), ((2, 3), "a passage square"), ((0, 3), "outside the maze's inner squares"),
    ((1, 7), "the start or the corner"),
])
def test_a_bad_retarget_square_is_refused_in_one_line(target, message):
    with pytest.raises(ValueError, match=message):
        T.Retarget(UNPINNED, target=target)
