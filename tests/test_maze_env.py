"""The maze family's environment: MiniGrid reference and NumPy twin agree, mazes are perfect, labels are exact,
bad goals and sizes are refused in one line."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from mirl.tasks.maze import env as M


@pytest.mark.parametrize("size,region,split", [(9, 1, "train"), (9, None, "test"), (11, 3, None), (7, None, None)])
def test_minigrid_and_the_batched_twin_step_identically(size, region, split):
    reference = gym.make(f"mirl/Maze-{size}x{size}-v0", goal_region=region, split=split).unwrapped
    twin = M.MazeVecEnv(1, size=size, goal_region=region, split=split)
    ends = 0
    for seed in range(3):
        obs_ref, _ = reference.reset(seed=seed)
        obs_twin, _ = twin.reset(seed=seed)
        np.testing.assert_array_equal(obs_ref, obs_twin[0])
        actions = np.random.default_rng(seed).integers(0, 4, size=1500)
        for t, action in enumerate(actions):
            obs_ref, r_ref, term_ref, trunc_ref, _ = reference.step(int(action))
            obs_twin, r_twin, term_twin, trunc_twin, _ = twin.step(np.array([action]))
            assert (r_ref, term_ref, trunc_ref) == (r_twin[0], term_twin[0], trunc_twin[0]), (seed, t)
            if term_ref or trunc_ref:  # the twin autoresets in the same step; the reference is reset here
                ends += 1
                obs_ref, _ = reference.reset()
            np.testing.assert_array_equal(obs_ref, obs_twin[0])
    assert ends >= 3  # both kinds of episode end were compared, not just the first frames
    assert reference.render_mode is None and gym.make("mirl/Maze-v0").unwrapped.maze_size == 9


def test_the_reference_env_renders_with_minigrid():
    env = gym.make("mirl/Maze-v0", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.shape[0] == frame.shape[1]


@pytest.mark.parametrize("size", [7, 9, 13])
def test_mazes_are_perfect(size):
    rng = np.random.default_rng(0)
    cells = ((size - 1) // 2) ** 2
    for _ in range(20):
        walls = M.generate(rng, size)
        assert walls[0].all() and walls[-1].all() and walls[:, 0].all() and walls[:, -1].all()
        open_squares = int((~walls).sum())
        assert open_squares == 2 * cells - 1  # cells + the passages of a spanning tree
        dist = M.distances(walls[None], np.array([M.start_square(size)]))[0]
        assert (dist[~walls] >= 0).all()  # every open square is reachable


def test_kruskal_mazes_put_fewer_goals_on_the_corner_path_than_depth_first_ones():
    """The confound of DFS mazes: with DFS mazes over half of all goals lie on the start→corner path."""
    rng = np.random.default_rng(1)
    on_path = []
    for _ in range(200):
        walls = M.generate(rng, 9)
        goal = M.draw_goal(rng, walls, None)
        on_path.append(M.maze_labels(walls, tuple(goal))["goal_on_corner_path"])
    assert np.mean(on_path) < 0.5


def test_train_and_test_layouts_are_disjoint():
    rng = np.random.default_rng(0)
    train = {M.generate(rng, 9, "train").tobytes() for _ in range(300)}
    test = {M.generate(rng, 9, "test").tobytes() for _ in range(300)}
    assert not train & test
    assert all(M.layout_split(np.frombuffer(w, dtype=bool).reshape(9, 9)) == "test" for w in test)
    anything = [M.layout_split(M.generate(rng, 9)) for _ in range(2000)]
    assert 0.06 < anything.count("test") / 2000 < 0.14  # one layout in ten
    with pytest.raises(ValueError, match="split must be one of"):
        M.MazeVecEnv(1, split="validation")


@pytest.mark.parametrize("region", [1, 2, 3])
def test_training_goals_lie_in_the_top_right_region(region):
    env = M.MazeVecEnv(64, goal_region=region)
    env.reset(seed=0)
    for _ in range(30):
        env.step(np.random.default_rng(0).integers(0, 4, size=64))
        assert (env.goal[:, 0] <= region).all() and (env.goal[:, 1] >= 9 - 1 - region).all()
    corner = M.MazeVecEnv(8, goal_region=1)
    corner.reset(seed=0)
    assert (corner.goal == np.array(M.corner_square(9))).all()


def test_labels_are_exact():
    env = M.MazeVecEnv(16, goal_region=None)
    env.reset(seed=3)
    labels = env.labels()
    for i in range(16):
        walls, goal = env.walls[i], tuple(env.goal[i])
        facts = M.maze_labels(walls, goal)
        assert labels["goal_distance"][i] == len(facts["path_to_goal"]) - 1
        assert labels["corner_distance"][i] == len(facts["path_to_corner"]) - 1
        assert facts["decision_square"] in facts["path_to_goal"] and facts["decision_square"] in facts["path_to_corner"]
        assert facts["goal_on_corner_path"] == (goal in facts["path_to_corner"])
        first_move = np.array(facts["path_to_goal"][1]) - np.array(facts["path_to_goal"][0])
        best = [k for k in range(4) if (M.MOVES[k] == first_move).all()]
        assert labels["toward_goal"][i].tolist() == [k in best for k in range(4)]


def test_state_round_trip():
    env = M.MazeVecEnv(4, goal_region=None)
    env.reset(seed=0)
    env.step(np.array([0, 1, 2, 3]))
    state = env.get_state()
    actions = np.random.default_rng(0).integers(0, 4, size=(50, 4))
    first = [env.step(a)[0] for a in actions]
    env.set_state(state)
    second = [env.step(a)[0] for a in actions]
    np.testing.assert_array_equal(np.stack(first), np.stack(second))


def test_bad_goals_and_sizes_are_refused_in_one_line():
    env = M.MazeVecEnv(1, goal_region=None)
    env.reset(seed=0)
    wall = tuple(np.argwhere(env.walls[0][1:-1, 1:-1])[0] + 1)
    with pytest.raises(ValueError, match=r"goal \(\d+, \d+\) is inside a wall; choose an open square"):
        env.place_goals(np.array([wall]))
    with pytest.raises(ValueError, match=r"goal \(3, 12\) is outside the 9×9 grid"):
        env.place_goals(np.array([(3, 12)]))
    with pytest.raises(ValueError, match="maze size 8 is not registered; use one of"):
        M.MazeVecEnv(1, size=8)
    with pytest.raises(ValueError, match="is not registered"):
        gym.make("mirl/Maze-v0", size=17)
    reference = gym.make("mirl/Maze-v0").unwrapped
    with pytest.raises(ValueError, match="inside a wall"):
        reference.reset(seed=0, options={"goal": (2, 2)})  # even row and column: always a wall in these mazes
    obs, _ = reference.reset(seed=0, options={"goal": (1, 1)})
    assert obs[2, 0, 0] == 1.0 and obs[2].sum() == 1.0
