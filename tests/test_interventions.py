"""Edits applied while the agent acts: exact effects of each op, and known outcomes on the smoke agent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mirl.interventions import EditHooks, apply_edit, random_edit_controls, random_edits_like, run_episodes
from mirl.pluginhost import get_tasks
from mirl.schemas import Edit
from mirl.tasks.smoke.env import SmokeGridVecEnv, cells_to_positions, manhattan

ACT = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)  # [B=2, C=3, H=2, W=2]


def test_add_full_and_per_channel():
    vec = np.ones((3, 2, 2))
    assert torch.equal(apply_edit(ACT, Edit(hook="h", op="add", vector=vec, scale=2.0)), ACT + 2)
    per_channel = apply_edit(ACT, Edit(hook="h", op="add", vector=[1.0, 0.0, -1.0]))
    assert torch.equal(per_channel[:, 0], ACT[:, 0] + 1) and torch.equal(per_channel[:, 2], ACT[:, 2] - 1)


def test_set_at_channels_and_positions():
    out = apply_edit(ACT, Edit(hook="h", op="set", channels=[1], positions=[(0, 1)], value=-5.0))
    expected = ACT.clone()
    expected[:, 1, 0, 1] = -5.0
    assert torch.equal(out, expected)
    assert torch.equal(apply_edit(ACT, Edit(hook="h", op="set", value=0.0)), torch.zeros_like(ACT))


def test_project_out_full_and_channel_direction():
    direction = np.random.default_rng(0).normal(size=(3, 2, 2))
    out = apply_edit(ACT, Edit(hook="h", op="project_out", vector=direction))
    unit = torch.as_tensor(direction, dtype=torch.float32).reshape(-1)
    assert torch.allclose(out.reshape(2, -1) @ (unit / unit.norm()), torch.zeros(2), atol=1e-4)
    channel_dir = apply_edit(ACT, Edit(hook="h", op="project_out", vector=[0.0, 1.0, 0.0]))
    assert torch.equal(channel_dir[:, 1], torch.zeros(2, 2, 2)) and torch.equal(channel_dir[:, 0], ACT[:, 0])


def test_patch_and_mean_ablate_copy_the_selected_units():
    source = -np.ones((3, 2, 2))
    for op in ("patch", "mean_ablate"):
        out = apply_edit(ACT, Edit(hook="h", op=op, vector=source, channels=[0, 2]))
        assert torch.equal(out[:, [0, 2]], -torch.ones(2, 2, 2, 2)) and torch.equal(out[:, 1], ACT[:, 1])


def test_resample_ablate_draws_a_source_row_per_env():
    sources = np.stack([np.full((3, 2, 2), k) for k in (10.0, 20.0, 30.0)])
    batch = ACT.repeat(50, 1, 1, 1)
    out = apply_edit(batch, Edit(hook="h", op="resample_ablate", vector=sources, channels=[1]),
                     rng=np.random.default_rng(0))
    values = out[:, 1, 0, 0]
    assert set(values.tolist()) == {10.0, 20.0, 30.0}
    assert torch.all(out[:, 1] == values.view(-1, 1, 1))  # one source row per env, not mixed
    assert torch.equal(out[:, 0], batch[:, 0])


def test_steps_select_rows():
    hooks = EditHooks([Edit(hook="h", op="set", value=0.0, steps=[2])])
    hooks.episode_steps = np.array([0, 2])
    [(_, fn)] = hooks.fwd()
    out = fn(ACT, "h")
    assert torch.equal(out[0], ACT[0]) and torch.equal(out[1], torch.zeros(3, 2, 2))


def test_edit_sizes_are_the_mean_change_norm_over_the_rows_edited():
    vector = np.ones((3, 2, 2))
    hooks = EditHooks([Edit(hook="h", op="add", vector=vector, scale=2.0),
                       Edit(hook="h", op="set", channels=[0], value=0.0, steps=[1])])
    [(_, fn)] = hooks.fwd()
    hooks.episode_steps = np.array([0, 1])
    edited = fn(ACT, "h")
    hooks.episode_steps = np.array([3, 3])  # the set edit applies to no row this time
    fn(ACT, "h")
    add_size, set_size = hooks.edit_sizes()
    assert add_size == pytest.approx(2.0 * np.sqrt(12))
    after_add = ACT[1] + 2.0
    assert set_size == pytest.approx(float(after_add[0].norm()))  # one row edited, counted once
    assert torch.equal(edited[1, 0], torch.zeros(2, 2))
    assert EditHooks([Edit(hook="h", op="add", vector=vector)]).edit_sizes() == [0.0]  # never applied


def test_random_edits_like_match_size_hook_and_steps_with_a_fresh_direction():
    edits = [Edit(hook="h", op="set", channels=[0], value=0.0, steps=[1, 2]), Edit(hook="g", op="add", vector=[1.0])]
    control = random_edits_like(edits, [5.0, 0.0], {"h": [3, 2, 2], "g": [1]}, np.random.default_rng(0))
    [edit] = control  # the zero-size edit gets no control
    assert edit.op == "add" and edit.hook == "h" and edit.steps == [1, 2]
    assert edit.vector.shape == (3, 2, 2) and np.linalg.norm(edit.vector) == pytest.approx(5.0)
    again = random_edits_like(edits, [5.0, 0.0], {"h": [3, 2, 2], "g": [1]}, np.random.default_rng(1))
    assert abs(float(np.vdot(edit.vector, again[0].vector))) < 25.0  # a different direction per draw
    shapes = {"h": [3, 2, 2], "g": [1]}
    controls = random_edit_controls(edits, [5.0, 0.0], shapes, seed=7)
    assert len(controls) == 4 and all(len(c) == 1 for c in controls)
    assert all(np.array_equal(a[0].vector, b[0].vector)  # seeded: the same controls for the same seed
               for a, b in zip(controls, random_edit_controls(edits, [5.0, 0.0], shapes, seed=7)))
    assert random_edit_controls(edits, [0.0, 0.0], shapes, seed=7) == []  # nothing changed: no-edit control


@pytest.fixture(scope="module")
def agent():
    return get_tasks().get("smoke/goal-readout-v1").load_agent()


def outcomes(agent, edits=(), episodes=200):
    return run_episodes(agent, SmokeGridVecEnv(32, seed=1), episodes, edits=list(edits), seed=1)


def test_unedited_agent_solves_every_episode_on_a_shortest_path(agent):
    # the reset state of each env is its first episode; lengths must equal the Manhattan distance there
    env = SmokeGridVecEnv(32, seed=1)
    env.reset(seed=1)
    first_distance = manhattan(env.agent, env.goal)
    result = run_episodes(agent, SmokeGridVecEnv(32, seed=1), 200, seed=1)
    assert len(result.returns) == 200 and np.all(result.returns == 1.0) and np.all(result.terminated)
    assert np.all(result.lengths <= 12) and sorted(first_distance.tolist())[0] >= 1
    # every finished episode ended at the goal: the last acting step was one move away from it
    last_agent = cells_to_positions(result.final_labels["agent_cell"])
    last_goal = cells_to_positions(result.final_labels["goal_cell"])
    assert np.all(manhattan(last_agent, last_goal) == 1)


def test_erasing_the_goal_plane_breaks_goal_seeking(agent):
    erased = outcomes(agent, [Edit(hook="encoder.hook_out", op="set", channels=[1], value=0.0)])
    assert erased.returns.mean() < 0.3
    assert len(erased.edit_sizes) == 1 and erased.edit_sizes[0] > 0  # the goal plane was non-zero to erase


def test_an_edit_at_a_step_never_reached_changes_nothing(agent):
    late = outcomes(agent, [Edit(hook="encoder.hook_out", op="set", channels=[1], value=0.0, steps=[500])])
    plain = outcomes(agent)
    np.testing.assert_array_equal(late.returns, plain.returns)
    np.testing.assert_array_equal(late.lengths, plain.lengths)


def test_mean_and_resample_ablation_of_the_goal_channel_remove_the_goal(agent):
    data = get_tasks().get("smoke/goal-readout-v1").view(0).train_data(hooks=["encoder.hook_out"])
    acts = data.activations["encoder.hook_out"].astype(np.float64)
    mean = outcomes(agent, [Edit(hook="encoder.hook_out", op="mean_ablate", vector=acts.mean(0), channels=[1])])
    resampled = outcomes(agent, [Edit(hook="encoder.hook_out", op="resample_ablate", vector=acts[:200], channels=[1])])
    assert mean.returns.mean() < 0.5
    assert resampled.returns.mean() < 0.6


class LongEpisodesFail:
    """A toy vectorized env where half the episodes succeed at their first step and the rest fail after 20 (the
    actions do nothing): the success rate is 0.5, and short episodes are the ones that finish first."""

    num_envs, LONG = 256, 20

    def reset(self, seed=None, options=None):
        self.rng = np.random.default_rng(seed)
        self.length = self._draw(self.num_envs)
        self.t = np.zeros(self.num_envs, dtype=np.int64)
        return self._obs(), {}

    def _draw(self, k):
        return np.where(self.rng.random(k) < 0.5, 1, self.LONG)

    def _obs(self):
        return np.zeros((self.num_envs, 2, 7, 7), dtype=np.float32)

    def step(self, actions):
        self.t += 1
        done = self.t >= self.length
        terminated, truncated = done & (self.length == 1), done & (self.length > 1)
        self.length[done], self.t[done] = self._draw(int(done.sum())), 0
        return self._obs(), terminated.astype(np.float32), terminated, truncated, {}

    def labels(self):
        return {}


def test_the_episode_loop_counts_episodes_fixed_before_they_are_played(agent):
    """run_episodes keeps episodes 0…n−1 by their start (the rule every card and scorer uses); keeping the first n
    to finish would count the quick successes and leave the long failures still running."""
    n = 200
    rates = [run_episodes(agent, LongEpisodesFail(), n, seed=seed, greedy=False).terminated.mean() for seed in range(3)]
    assert all(abs(rate - 0.5) < 0.1 for rate in rates), rates

    env, finished = LongEpisodesFail(), []
    env.reset(seed=0)
    while len(finished) < n:
        _, _, terminated, truncated, _ = env.step(np.zeros(env.num_envs, dtype=np.int64))
        finished += terminated[terminated | truncated].tolist()
    first_to_finish = np.mean(finished[:n])
    assert first_to_finish > 0.75, first_to_finish  # the bias the shared loop removes
