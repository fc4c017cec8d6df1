"""The Sokoban family's environment: exact dynamics and rewards, the level text format and its errors, the
reverse-play generator (solvable, deterministic, split-disjoint), the solver and the plan labels."""

from __future__ import annotations

import numpy as np
import pytest

from mirl.tasks.sokoban import env as S

UP, DOWN, LEFT, RIGHT = range(4)

CORRIDOR = """
#######
#@ $ .#
#######
"""


def one_env(text: str) -> S.SokobanVecEnv:
    env = S.SokobanVecEnv(1, S.parse_levels(text), order="sequential")
    env.reset(seed=0)
    return env


def test_pushing_a_box_onto_its_target_solves_the_level_with_the_documented_rewards():
    env = one_env(CORRIDOR)
    rewards = []
    for _ in range(3):
        _, r, terminated, truncated, _ = env.step(np.array([RIGHT]))
        rewards.append(float(r[0]))
    assert rewards[:2] == pytest.approx([-0.1, -0.1])
    assert rewards[2] == pytest.approx(-0.1 + 1.0 + 10.0) and terminated[0] and not truncated[0]


def test_walls_and_second_boxes_block_pushes_and_a_box_pushed_off_a_target_costs_one():
    env = one_env("""
#######
#@$$..#
#  *  #
#######
""")
    before = (env.agent.copy(), env.boxes.copy())
    _, r, *_ = env.step(np.array([RIGHT]))  # two boxes in a row: blocked
    assert (env.agent == before[0]).all() and (env.boxes == before[1]).all() and r[0] == pytest.approx(-0.1)
    env.step(np.array([UP]))  # into the wall: nothing moves
    assert (env.agent == before[0]).all()
    env.step(np.array([DOWN]))
    env.step(np.array([RIGHT]))  # agent now left of the box on target
    _, r, *_ = env.step(np.array([RIGHT]))  # pushes it off the target
    assert r[0] == pytest.approx(-0.1 - 1.0)


def test_episodes_are_cut_at_four_times_the_interior_area_and_the_env_resets_in_the_same_step():
    env = one_env(CORRIDOR)
    assert env.max_steps == 4 * 5
    first = S.observe(env).copy()
    for t in range(env.max_steps):
        obs, _, terminated, truncated, _ = env.step(np.array([LEFT]))
    assert truncated[0] and not terminated[0]
    np.testing.assert_array_equal(obs, first)  # back at the level's start


def test_observation_is_one_hot_over_the_interior():
    levels = S.generate(64, seed=3)
    obs = S.observe(levels)
    assert obs.shape == (64, 7, 6, 6) and obs.dtype == np.uint8
    np.testing.assert_array_equal(obs.sum(1), 1)
    assert (obs[:, S.PLANES.index("agent")] + obs[:, S.PLANES.index("agent_on_target")]).sum((1, 2)).tolist() == [1] * 64
    boxes = obs[:, S.PLANES.index("box")] + obs[:, S.PLANES.index("box_on_target")]
    assert (boxes.sum((1, 2)) == 2).all()


def test_text_round_trip():
    levels = S.generate(5, seed=1)
    again = S.parse_levels(levels.text())
    for field in ("walls", "targets", "boxes", "agent"):
        np.testing.assert_array_equal(getattr(levels, field), getattr(again, field))


@pytest.mark.parametrize("text,message", [
    ("####\n#@$x#\n#. #\n####", "<text>:2:4: unknown symbol 'x'"),
    ("#####\n# $.#\n#####", "exactly one agent"),
    ("#####\n#@$.#\n#@  #\n#####", "found 2 (2:2, 3:2)"),
    ("#####\n#@ .#\n#####", "no box"),
    ("#####\n#@$ #\n#####", "1 boxes but 0 targets"),
    ("#####\n @$.#\n#####", "<text>:2:1: the border must be wall"),
    ("; 0\n#####\n#@$.#\n#####\n; 1\n######\n#@$. #\n######", "<text>:2:1: level 0 is 3×5 but others are 3×6"),
    ("; nothing here\n", "no levels found"),
])
def test_malformed_level_text_is_refused_with_line_and_column(text, message):
    with pytest.raises(S.LevelFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        S.parse_levels(text)


def test_generator_is_deterministic_distinct_split_disjoint_and_solvable():
    a = S.generate(300, seed=7, split="train")
    b = S.generate(300, seed=7, split="train")
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert len(set(a.keys())) == 300 and (a.splits() == "train").all()
    test = S.generate(100, seed=7, split="test")
    assert (test.splits() == "test").all() and not set(test.keys()) & set(a.keys())
    assert (a.num_boxes == 2).all() and not (a.boxes & a.targets).any()  # no box starts on a target
    lengths = [len(S.solve(a, i)) for i in range(40)]
    assert min(lengths) >= 2 and np.mean(lengths) > 6  # the max-displacement rule makes non-trivial levels


def test_the_solver_finds_shortest_solutions_and_reports_unsolvable_levels():
    corridor = S.parse_levels(CORRIDOR)
    assert S.solve(corridor) == [RIGHT, RIGHT, RIGHT]
    stuck = S.parse_levels("######\n#$  .#\n#  @ #\n######")  # the box sits in a dead corner
    assert S.solve(stuck) is None
    with pytest.raises(ValueError, match="level 0 has no solution"):
        S.check_solvable(stuck)
    env = one_env(S.generate(1, seed=5).text())
    for action in S.solve(S.parse_levels(S.render(S.generate(1, seed=5), 0))):
        _, _, terminated, *_ = env.step(np.array([action]))
    assert terminated[0]


def test_plan_labels_give_the_direction_each_square_is_next_left_by_the_agent_and_by_a_box():
    level = S.parse_levels(CORRIDOR)
    w = level.width
    walls = np.repeat(level.walls[None], 3, axis=0)  # [T=3, B=1, H·W]
    agent = np.array([[8], [9], [10]])  # (1,1) → (1,2) → (1,3): steps 1 and 2 push the box right
    boxes = np.zeros((3, 1, level.walls.shape[1]), dtype=bool)
    boxes[0, 0, 10] = boxes[1, 0, 10] = boxes[2, 0, 11] = True
    actions = np.array([[RIGHT], [RIGHT], [RIGHT]])
    ends = np.array([[False], [False], [True]])
    agent_dir, box_dir = S.future_directions(agent, actions, boxes, walls, ends, w)
    assert agent_dir[0, 0, 8] == RIGHT and agent_dir[1, 0, 8] == S.NEVER and agent_dir[2, 0, 10] == RIGHT
    assert box_dir[0, 0, 10] == RIGHT and box_dir[0, 0, 11] == RIGHT  # the box leaves (1,3), then (1,4)
    assert box_dir[2, 0, 10] == S.NEVER and box_dir[2, 0, 11] == RIGHT and (box_dir[2][0] != S.NEVER).sum() == 1
    # a finished episode's labels never look into the next one
    ends = np.array([[True], [False], [False]])
    agent_dir, _ = S.future_directions(agent, actions, boxes, walls, ends, w)
    assert agent_dir[0, 0, 9] == S.NEVER and agent_dir[1, 0, 9] == RIGHT


def test_state_round_trip_continues_identically():
    pool = S.generate(500, seed=2)
    env = S.SokobanVecEnv(16, pool, seed=0, mix=S.generate(50, seed=3, boxes=1), mix_start=0.5, mix_episodes=100)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        env.step(rng.integers(0, 4, 16))
    saved = env.get_state()
    actions = rng.integers(0, 4, (100, 16))
    first = [env.step(a)[0] for a in actions]
    env.set_state(saved)
    np.testing.assert_array_equal(np.stack(first), np.stack([env.step(a)[0] for a in actions]))
    assert (env.level_index < 0).any()  # the curriculum's second pool was drawn from


def test_bad_actions_are_refused_in_one_line():
    env = one_env(CORRIDOR)
    with pytest.raises(ValueError, match=r"actions must be 1 integers in 0..3"):
        env.step(np.array([4]))
    with pytest.raises(ValueError, match="order must be"):
        S.SokobanVecEnv(1, S.parse_levels(CORRIDOR), order="shuffled")
