"""The Sokoban tasks' machinery: plan metrics, the shortcut levels of plan-steer, the ablation curve of
plan-locate, the conv probe, and the refusals (wrong board size, a checkpoint that is not the pinned one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mirl.errors import MirlError
from mirl.probes import conv_probe_as_dense, conv_probe_logits, fit_conv_probe
from mirl.seeding import seed_everything
from mirl.tasks.sokoban import agent as A
from mirl.tasks.sokoban import env as S
from mirl.tasks.sokoban import tasks as T


def test_macro_f1_of_perfect_constant_and_shuffled_plans():
    rng = np.random.default_rng(0)
    labels = np.where(rng.random((500, 72)) < 0.7, S.NEVER, rng.integers(0, 4, (500, 72)))
    labels[:, :6] = -1  # walls are left out
    task = T.PlanReadout("0" * 64)
    perfect = task.score_predictions(labels, labels, floor=0.3, seed=0)
    assert perfect.score == pytest.approx(1.0) and perfect.normalized_score == pytest.approx(1.0)
    assert perfect.ci[0] == pytest.approx(1.0)
    never = task.score_predictions(np.full_like(labels, S.NEVER), labels, floor=0.3, seed=0)
    assert never.score == pytest.approx(0.82 / 5, abs=0.02)  # F1 of "never" ≈ 0.82, the four moves 0
    shuffled = task.score_predictions(labels[rng.permutation(500)], labels, floor=0.3, seed=0)
    assert 0.15 < shuffled.score < 0.3 and shuffled.ci[0] < shuffled.score < shuffled.ci[1]


def test_conv_probe_decodes_a_spatial_rule_and_its_dense_form_agrees():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(400, 4, 6, 6)), rng.normal(size=(400, 2, 6, 6))
    labels = (a[:, 0] + np.roll(b[:, 1], 1, axis=2) > 0).astype(int).reshape(400, 36)  # needs the neighbour
    labels[:, :4] = -1
    accuracy = {}
    for kernel in (1, 3):
        w, bias = fit_conv_probe([a, b], labels, 2, kernel=kernel)
        logits = conv_probe_logits([a, b], w, bias, kernel)
        accuracy[kernel] = (logits.argmax(-1) == labels)[labels >= 0].mean()
    assert accuracy[3] > 0.9 and accuracy[1] < 0.8
    dense, dense_bias = conv_probe_as_dense(w, bias, [4, 2], 6, 6, 3)
    flat = a.reshape(400, -1) @ dense[0] + b.reshape(400, -1) @ dense[1] + dense_bias
    np.testing.assert_allclose(flat.reshape(400, 36, 2), logits, atol=1e-4)


def test_shortcut_levels_force_a_detour_around_the_shortcut_square():
    levels = T.shortcut_levels(5, 4)
    shortcut = (T.SHORTCUT[0] + 1) * T.SIZE + T.SHORTCUT[1] + 1
    for i in range(len(levels)):
        solution = S.solve(levels, i)
        assert solution, "every shortcut level is solvable"
        blocked = levels.walls[i] | levels.boxes[i]
        start = int(levels.agent[i])
        square, boxes = start, set(np.flatnonzero(levels.boxes[i]).tolist())
        for action in solution:
            if square + S.offsets(T.SIZE)[action] in boxes:
                break
            square += int(S.offsets(T.SIZE)[action])
        direct = T._walk_distances(blocked, start, T.SIZE)[square]
        detour = T._walk_distances_without(blocked, shortcut, start, T.SIZE)[square]
        assert T.DETOUR + direct <= detour < 10**6


def test_the_eight_symmetries_keep_levels_equally_hard():
    levels = S.generate(3, seed=4)
    for i in range(3):
        lengths = {len(S.solve(T.dihedral(levels, i, k))) for k in range(8)}
        assert len(lengths) == 1


def test_play_tracks_squares_before_the_first_push_and_refuses_other_board_sizes():
    seed_everything(0)
    agent = A.build_drc().eval()
    corridor = S.parse_levels("########\n#@ $  .#\n#      #\n#      #\n#      #\n#      #\n#      #\n########")
    out = T.play(agent, corridor, seed=0)
    assert out.final_info["visited_before_push"][0, int(corridor.agent[0])]  # the start counts
    assert out.final_info["visited_before_push"].shape == (1, 64) and out.lengths[0] >= 1
    with pytest.raises(ValueError, match="observations are 7×8×8 but the agent takes 7×6×6"):
        T.play(agent, S.generate(2, seed=0, interior=8, boxes=2))


class _Scripted(torch.nn.Module):
    """A feed-forward stand-in that plays a fixed action sequence (the same for every env)."""

    def __init__(self, actions: list[int]):
        super().__init__()
        self.actions, self.t = actions, 0
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def hook_points(self):
        return {"hook_obs": (7, 4, 4)}  # 6×6 boards

    def hooks(self, _edits):
        import contextlib

        return contextlib.nullcontext()

    def forward(self, x):
        logits = torch.full((len(x), 4), -10.0)
        logits[:, self.actions[min(self.t, len(self.actions) - 1)]] = 10.0
        self.t += 1
        return logits, torch.zeros(len(x))

    def act(self, x, state=None, starts=None):
        return (*self(x), None)


def test_play_records_where_the_first_push_was_made_from():
    # up, right, right, down, down: the box at (2, 3) of the board is pushed down from (1, 3)
    level = S.parse_levels("######\n#@   #\n#  $ #\n#    #\n#  . #\n######")
    up, down, left, right = (S.ACTION_NAMES.index(a) for a in ("up", "down", "left", "right"))
    out = T.play(_Scripted([right, right, down, down, down, down]), level, greedy=True).final_info
    assert out["first_push_from"][0] == 1 * 6 + 3
    assert out["visited_before_push"][0].nonzero()[0].tolist() == [7, 8, 9]
    never = T.play(_Scripted([left]), level, greedy=True).final_info
    assert never["first_push_from"][0] == -1


def test_cut_squares_are_where_a_route_to_a_box_can_be_made_detour():
    # two ways from the start to the box: down the left column (3 steps to its left side) or round the right
    # (9 steps with the left closed). Walling board square (2, 1) or (3, 1) off costs 6 more steps: cuts.
    # Walling (1, 2) off costs the way to the box's right-hand side 3 steps only (< DETOUR): not a cut.
    level = S.parse_levels("######\n#@   #\n# ## #\n#  $ #\n#  . #\n######")
    assert T._cut_squares(level, 0) == [2 * 6 + 1, 3 * 6 + 1]
    # one way out of the start's corner: walling it off closes the level, which is no detour
    closed = S.parse_levels("######\n#@ ###\n## # #\n#  $ #\n# .  #\n######")
    assert T._cut_squares(closed, 0) == []


def test_plan_steer_v2_refuses_a_levels_file_that_is_not_the_pinned_one(monkeypatch):
    monkeypatch.setitem(T.STEER_LEVELS_SHA256, "test", "ab" * 32)
    T.shipped_steer_levels.cache_clear()
    try:
        with pytest.raises(MirlError, match="plan-steer-v2.test-levels.npz has sha256 .* plan-steer-v2 pins ababababab"):
            T.shipped_steer_levels("test")
    finally:
        T.shipped_steer_levels.cache_clear()


def test_plan_steer_v2_refuses_more_train_levels_than_it_ships():
    task = T.PlanSteerV2("0" * 64)
    assert len(task.train_levels(seed=0, n=600)) == 600
    with pytest.raises(MirlError, match="plan-steer-v2 ships 600 train levels; ask for at most 600"):
        task.train_levels(seed=0, n=601)


def test_plan_locate_curve_arithmetic():
    task = T.PlanLocate("0" * 64, random_ordering_auc=0.05)
    report = task.score_curve({"base": 0.8, "rates": {1: 0.8, 2: 0.7, 5: 0.5, 10: 0.3, 20: 0.0}})
    assert report.score == pytest.approx((0 + 0.1 + 0.3 + 0.5 + 0.8) / 5)
    assert report.normalized_score == pytest.approx((report.score - 0.05) / (0.8 - 0.05))
    order = task.ordering({h: np.arange(16) * (i + 1) for i, h in enumerate(T.H_HOOKS)}, seed=0)
    assert order[0] == (list(T.H_HOOKS)[-1], 15) and len(order) == 16 * len(T.H_HOOKS)


def test_a_checkpoint_that_is_not_the_pinned_one_is_refused(tmp_path):
    seed_everything(0)
    torch.save(A.build_drc().state_dict(), tmp_path / "sokoban-drc.pt")
    task = T.PlanReadout("ab" * 32)
    task.folder = tmp_path
    with pytest.raises(MirlError, match="sokoban-drc.pt has sha256 .* but sokoban/plan-readout-v1 pins abababababab"):
        task.load_agent()
