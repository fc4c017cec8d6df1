"""Rollouts: what ``collect`` records matches the env and the agent exactly, and the disk cache is only ever
reused for the same agent version, key and settings."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
import torch
from torch import nn

from mirl.hooked import HookedAgent, HookPoint
from mirl.pluginhost import get_tasks
from mirl.rollouts import RolloutKey, Rollouts, cached_collect, collect, steps_to_episode_end
from mirl.tasks.smoke.env import SIZE, SmokeGridVecEnv

TASK = "smoke/goal-readout-v1"
HOOKS = ["encoder.hook_out", "dense.hook_out"]
SHA = "ab" * 32
ARRAYS = ("obs", "actions", "logits", "values", "rewards", "dones", "starts", "episode")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The smoke agent's ops are tiny: a second intra-op thread only adds contention on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def agent():
    return get_tasks().get(TASK).load_agent()


@pytest.fixture(scope="module")
def sampled(agent) -> Rollouts:
    return collect(agent, SmokeGridVecEnv(16), episodes=40, hooks=HOOKS, seed=3, future_labels=steps_to_episode_end)


@pytest.fixture(scope="module")
def greedy(agent) -> Rollouts:
    return collect(agent, SmokeGridVecEnv(16), episodes=40, hooks=HOOKS, seed=4, greedy=True,
                   future_labels=steps_to_episode_end)


def episodes_of(r: Rollouts):
    """(episode number, env, first step, last step) for every requested episode."""
    out = []
    for e in np.unique(r.episode[r.episode >= 0]):
        ts, bs = np.nonzero(r.episode == e)
        assert len(set(bs)) == 1, f"episode {e} spans several envs"
        assert np.array_equal(ts, np.arange(ts[0], ts[-1] + 1)), f"episode {e} is not contiguous"
        out.append((int(e), int(bs[0]), int(ts[0]), int(ts[-1])))
    return out


def assert_same(a: Rollouts, b: Rollouts) -> None:
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.labels.keys() == b.labels.keys() and a.activations.keys() == b.activations.keys()
    for name in a.labels:
        np.testing.assert_array_equal(a.labels[name], b.labels[name], err_msg=name)
    for name in a.activations:
        np.testing.assert_array_equal(a.activations[name], b.activations[name], err_msg=name)


# ---- what collect records ---------------------------------------------------------------------------


def test_shapes_and_dtypes(sampled):
    r = sampled
    T, B = r.actions.shape
    assert B == 16 and T > 1
    assert r.obs.shape == (T, B, 2, SIZE, SIZE) and r.obs.dtype == np.float32
    assert r.actions.dtype == np.int64
    assert r.logits.shape == (T, B, 4) and r.logits.dtype == np.float32
    for name, dtype in [("values", np.float32), ("rewards", np.float32), ("dones", np.bool_),
                        ("starts", np.bool_), ("episode", np.int64)]:
        array = getattr(r, name)
        assert array.shape == (T, B) and array.dtype == dtype, name
    assert set(r.labels) == {"agent_cell", "goal_cell", "distance", "steps_to_episode_end"}
    assert all(v.shape == (T, B) for v in r.labels.values())
    assert r.activations["encoder.hook_out"].shape == (T, B, 8, SIZE, SIZE)
    assert r.activations["dense.hook_out"].shape == (T, B, 48)
    assert all(a.dtype == np.float16 for a in r.activations.values())
    assert r.starts[0].all() and np.array_equal(r.starts[1:], r.dones[:-1])
    assert r.flat("encoder.hook_out").shape == (r.step_mask().sum(), 8, SIZE, SIZE)
    assert r.flat("goal_cell").shape == r.flat("actions").shape == (r.step_mask().sum(),)


def test_exactly_the_requested_episodes_are_marked_in_start_order(sampled):
    r = sampled
    found = episodes_of(r)
    assert [e for e, *_ in found] == list(range(40))
    for e, b, first, last in found:
        assert r.starts[first, b] and r.dones[last, b]
        assert not r.dones[first:last, b].any()
    # numbered in the order episodes start (ties by env), so the first B are the initial ones
    assert np.array_equal(r.episode[0], np.arange(16))
    starts_in_order = [(first, b) for _, b, first, _ in found]
    assert starts_in_order == sorted(starts_in_order)
    # collection stops at the step where the last requested episode ends
    assert max(last for *_, last in found) == len(r.actions) - 1


def test_fewer_episodes_than_envs_and_max_steps(agent):
    r = collect(agent, SmokeGridVecEnv(8), episodes=3, seed=1)
    assert (r.episode[:, 3:] == -1).all()
    assert [e for e, *_ in episodes_of(r)] == [0, 1, 2]
    cut = collect(agent, SmokeGridVecEnv(8), episodes=10_000, seed=1, max_steps=7,
                  future_labels=steps_to_episode_end)
    assert cut.actions.shape == (7, 8)
    # episodes still running at the cut have no known end
    running = ~cut.dones[::-1].cumsum(axis=0)[::-1].astype(bool)
    assert (cut.labels["steps_to_episode_end"][running] == -1).all()


def test_a_capped_rollout_is_recorded_into_one_block_without_a_final_copy():
    """With ``max_rows`` known, rows beyond one 32 MB block land in the same array, which is returned as is."""
    from mirl.rollouts import _BLOCK_BYTES, _Column

    rows_per_block = _BLOCK_BYTES // (64 * 64 * 3)
    column = _Column(np.uint8, max_rows=rows_per_block + 5)
    for i in range(rows_per_block + 3):
        column.append(np.full((64, 64, 3), i % 256, dtype=np.uint8))
    assert len(column.blocks) == 1
    first_block = column.block
    out = column.finish()
    assert out.shape == (rows_per_block + 3, 64, 64, 3) and np.shares_memory(out, first_block)
    assert (out[:, 0, 0, 0] == np.arange(rows_per_block + 3) % 256).all()
    uncapped = _Column(np.uint8)
    for i in range(rows_per_block + 3):
        uncapped.append(np.full((64, 64, 3), i % 256, dtype=np.uint8))
    assert len(uncapped.blocks) == 2 and (uncapped.finish() == out).all()


def test_labels_are_the_env_state_the_agent_acted_on(sampled):
    r = sampled
    T, B = r.actions.shape
    agent_cell = r.obs[:, :, 0].reshape(T, B, -1).argmax(-1)
    goal_cell = r.obs[:, :, 1].reshape(T, B, -1).argmax(-1)
    np.testing.assert_array_equal(r.labels["agent_cell"], agent_cell)
    np.testing.assert_array_equal(r.labels["goal_cell"], goal_cell)
    a, g = r.labels["agent_cell"], r.labels["goal_cell"]
    np.testing.assert_array_equal(r.labels["distance"], abs(a // SIZE - g // SIZE) + abs(a % SIZE - g % SIZE))
    for _, b, first, last in episodes_of(r):
        assert (r.labels["goal_cell"][first : last + 1, b] == r.labels["goal_cell"][first, b]).all()


def test_recorded_activations_equal_a_fresh_forward(agent, sampled):
    r = sampled
    for t in [0, len(r.actions) // 2, len(r.actions) - 1]:
        (logits, value), cache = agent.run_with_cache(torch.from_numpy(np.array(r.obs[t])), names=HOOKS)
        for name in HOOKS:
            np.testing.assert_allclose(r.activations[name][t], cache[name].numpy(), rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(r.logits[t], logits.numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(r.values[t], value.numpy(), rtol=1e-6, atol=1e-6)


def test_greedy_smoke_agent_walks_shortest_paths(greedy):
    r = greedy
    assert (r.actions == r.logits.argmax(-1)).all()
    for _, b, first, last in episodes_of(r):
        assert last - first + 1 == r.labels["distance"][first, b]
        assert r.rewards[last, b] == 1.0 and (r.rewards[first:last, b] == 0).all()
    mask = r.step_mask()
    # a perfect agent needs exactly `distance` more actions from every state
    np.testing.assert_array_equal(r.labels["steps_to_episode_end"][mask], r.labels["distance"][mask])


def test_sampling_follows_the_policy(agent):
    """Actions are drawn from softmax(logits): the argmax action is taken as often as its mean probability."""
    r = collect(agent, SmokeGridVecEnv(64), episodes=500, seed=7)
    mask = r.step_mask()
    probs = torch.softmax(torch.from_numpy(r.logits[mask]), -1).numpy()
    took_argmax = (r.actions[mask] == probs.argmax(-1)).mean()
    expected = probs.max(-1).mean()
    assert mask.sum() > 2000 and expected < 0.99
    assert abs(took_argmax - expected) < 0.03, (took_argmax, expected)  # ~4 standard errors


def test_same_seed_same_rollouts_other_seed_differs(agent, sampled):
    again = collect(agent, SmokeGridVecEnv(16), episodes=40, hooks=HOOKS, seed=3, future_labels=steps_to_episode_end)
    assert_same(sampled, again)
    other = collect(agent, SmokeGridVecEnv(16), episodes=40, hooks=HOOKS, seed=5)
    assert other.obs.shape != sampled.obs.shape or not np.array_equal(other.obs, sampled.obs)


def test_fwd_edits_apply_while_acting(agent, greedy):
    def zero(act, _name):
        return torch.zeros_like(act)

    edited = collect(agent, SmokeGridVecEnv(16), episodes=40, hooks=HOOKS, seed=4, greedy=True,
                     fwd=[("encoder.hook_out", zero)])
    # recorded activations are what the rest of the network saw: the edited ones
    assert not edited.activations["encoder.hook_out"].any()
    # blind, the greedy agent takes one fixed action and mostly never reaches the goal
    mask = edited.step_mask()
    success = edited.rewards[mask].sum() / 40
    assert success < 0.5 and greedy.rewards[greedy.step_mask()].sum() == 40
    assert len(np.unique(edited.actions)) == 1


def test_unknown_hook_and_bad_arguments(agent):
    with pytest.raises(KeyError, match="unknown hook"):
        collect(agent, SmokeGridVecEnv(2), episodes=1, hooks=["encoder.hook_nope"])
    with pytest.raises(ValueError):
        collect(agent, SmokeGridVecEnv(2), episodes=0)


# ---- recurrent agents ---------------------------------------------------------------------------------


class TinyGRU(HookedAgent):
    """A GRU cell over the flattened observation; hooks on the incoming and outgoing hidden state."""

    recurrent = True
    HIDDEN = 12

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.cell = nn.GRUCell(2 * SIZE * SIZE, self.HIDDEN)
        self.hook_state_in = HookPoint((self.HIDDEN,))  # [batch, 12]
        self.hook_h = HookPoint((self.HIDDEN,))  # [batch, 12]
        self.policy = nn.Linear(self.HIDDEN, 4)
        self.value = nn.Linear(self.HIDDEN, 1)
        self.register_buffer("h0", torch.full((self.HIDDEN,), 0.5))  # not zero, so a reset is visible
        self.setup_hooks()

    def initial_state(self, batch_size):
        return (self.h0.expand(batch_size, -1).clone(),)

    def forward(self, obs, state):
        h = self.hook_h(self.cell(obs.flatten(1), self.hook_state_in(state[0])))
        return self.policy(h), self.value(h).squeeze(-1), (h,)


def test_recurrent_state_is_carried_and_reset_at_episode_starts():
    agent = TinyGRU().eval()
    r = collect(agent, SmokeGridVecEnv(6), episodes=20, hooks=["hook_state_in", "hook_h"], seed=0, max_steps=200)
    state_in, h = r.activations["hook_state_in"], r.activations["hook_h"]
    assert r.starts[1:].any() and (~r.starts).any()
    # the state entering every episode's first step is the initial state ...
    np.testing.assert_array_equal(state_in[r.starts], np.full((r.starts.sum(), 12), 0.5, dtype=np.float16))
    # ... and within an episode it is the previous step's output
    carried = ~r.starts[1:]
    np.testing.assert_array_equal(state_in[1:][carried], h[:-1][carried])
    assert not np.allclose(state_in[1:][carried], 0.5)


# ---- disk cache -----------------------------------------------------------------------------------------


class CountingFactory:
    """An env factory that counts how often it was asked for envs (only a cache miss asks)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, num_envs: int) -> SmokeGridVecEnv:
        self.calls += 1
        return SmokeGridVecEnv(num_envs)


def small_key(**changes) -> RolloutKey:
    return RolloutKey(**{"agent_sha256": SHA, "task_id": TASK, "seed": 0, "split": "train", **changes})


def test_cache_second_call_maps_the_files_from_disk(agent, tmp_path):
    factory = CountingFactory()
    key = small_key()
    started = time.perf_counter()
    first = cached_collect(key, agent, factory, 1000, HOOKS, num_envs=32, root=tmp_path)
    collect_seconds = time.perf_counter() - started
    started = time.perf_counter()
    second = cached_collect(key, agent, factory, 1000, HOOKS, num_envs=32, root=tmp_path,
                            future_labels=steps_to_episode_end)
    load_seconds = time.perf_counter() - started

    assert factory.calls == 1
    assert first.path == second.path and first.path.parent == tmp_path / "smoke__goal-readout-v1"
    assert first.path.name.startswith(f"{SHA[:16]}-train-seed0-")
    for name in ["obs", *HOOKS]:
        array = second.obs if name == "obs" else second.activations[name]
        assert isinstance(array, np.memmap) and not array.flags.writeable
    assert_same(first, collect(agent, SmokeGridVecEnv(32), 1000, HOOKS, seed=0))
    second.labels.pop("steps_to_episode_end")  # computed on load, never stored
    assert_same(first, second)
    meta = json.loads((first.path / "meta.json").read_text())
    assert meta["key"]["agent_sha256"] == SHA and meta["settings"]["hooks"] == sorted(HOOKS)
    assert meta["arrays"]["activations/encoder.hook_out"]["dtype"] == "float16"
    assert {"mirl_version", "created", "steps", "num_envs"} <= meta.keys()
    print(f"collect {collect_seconds * 1000:.1f} ms, load {load_seconds * 1000:.1f} ms")
    assert load_seconds < collect_seconds / 3, (load_seconds, collect_seconds)


def test_every_key_field_and_setting_gets_its_own_folder(agent, tmp_path):
    def folder(key=None, **settings):
        args = {"episodes": 4, "hooks": ["dense.hook_out"], "num_envs": 4, **settings}
        episodes, hooks = args.pop("episodes"), args.pop("hooks")
        return cached_collect(key or small_key(), agent, SmokeGridVecEnv, episodes, hooks, root=tmp_path, **args).path

    base = folder()
    variants = [
        folder(small_key(agent_sha256="cd" * 32)),
        folder(small_key(agent_sha256=SHA[:16] + "0" * 48)),  # same first 16 digits, other agent
        folder(small_key(task_id="smoke/other-v1")),
        folder(small_key(seed=1)),
        folder(small_key(split="test")),
        folder(episodes=5),
        folder(hooks=["dense.hook_out", "encoder.hook_out"]),
        folder(greedy=True),
        folder(max_steps=3),
        folder(num_envs=2),
    ]
    assert len({base, *variants}) == len(variants) + 1
    assert folder(hooks=["dense.hook_out", "dense.hook_out"]) == base  # duplicates and order do not matter


def test_cache_from_another_agent_version_is_not_reused(agent, tmp_path):
    factory = CountingFactory()
    first = cached_collect(small_key(), agent, factory, 8, HOOKS, num_envs=4, root=tmp_path)
    meta_path = first.path / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["key"]["agent_sha256"] = "ef" * 32  # as if written for another checkpoint
    meta_path.write_text(json.dumps(meta))

    again = cached_collect(small_key(), agent, factory, 8, HOOKS, num_envs=4, root=tmp_path)
    assert factory.calls == 2
    assert again.path == first.path
    assert json.loads(meta_path.read_text())["key"]["agent_sha256"] == SHA
    assert_same(first, again)


@pytest.mark.parametrize("damage", ["no meta", "temp folder only", "truncated array", "missing array"])
def test_partial_cache_folders_are_ignored(agent, tmp_path, damage):
    factory = CountingFactory()
    first = cached_collect(small_key(), agent, factory, 8, HOOKS, num_envs=4, root=tmp_path)
    folder = first.path
    expected = {name: np.array(getattr(first, name)) for name in ARRAYS}
    del first
    if damage == "no meta":
        (folder / "meta.json").unlink()
    elif damage == "temp folder only":  # a crash before the rename: complete files under the temp name
        shutil.move(folder, folder.parent / f".tmp-{folder.name}-999-deadbeef")
    elif damage == "truncated array":
        path = folder / "activations.encoder.hook_out.npy"
        path.write_bytes(path.read_bytes()[:1000])
    else:
        (folder / "obs.npy").unlink()

    again = cached_collect(small_key(), agent, factory, 8, HOOKS, num_envs=4, root=tmp_path)
    assert factory.calls == 2
    assert again.path == folder and (folder / "meta.json").exists()
    for name, array in expected.items():
        np.testing.assert_array_equal(getattr(again, name), array)


def test_rollout_key_needs_a_full_sha256():
    with pytest.raises(ValueError, match="sha256"):
        RolloutKey(agent_sha256="abc123", task_id=TASK, seed=0, split="train")


def test_collect_through_a_task_view_counts_forward_passes():
    from mirl.rollouts import collect
    from mirl.tasks.smoke.env import SmokeGridVecEnv

    view = get_tasks().get("smoke/goal-readout-v1").view(0)
    rollouts = collect(view.agent, SmokeGridVecEnv(8, seed=0), episodes=8, hooks=["dense.hook_out"], seed=0)
    assert view.meter.forward_passes == rollouts.actions.size
