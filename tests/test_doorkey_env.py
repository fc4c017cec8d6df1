"""The doorkey family's environment: MiniGrid's DoorKeyEnv in mirl's encoding, exact variables, counterfactual
states that are real MiniGrid states (and refusals of those that cannot exist), and the shortest-path expert."""

from __future__ import annotations

import numpy as np
import pytest
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX
from minigrid.envs import DoorKeyEnv
from minigrid.wrappers import FullyObsWrapper

from mirl.tasks.doorkey import env as D


def play_expert(env, max_steps: int = 200) -> bool:
    for _ in range(max_steps):
        actions = D.expert_actions(D.state_of(env))
        assert actions, "the expert always has a way on"
        _, _, terminated, truncated, _ = env.step(min(actions))
        if terminated or truncated:
            return bool(terminated)
    return False


def states_along_expert_paths(size: int, n: int, seed: int = 0) -> list[D.State]:
    rng = np.random.default_rng(seed)
    env, out = DoorKeyEnv(size=size), []
    for episode in range(n):
        env.reset(seed=seed * 1000 + episode)
        for _ in range(int(rng.integers(0, 18))):
            actions = D.expert_actions(D.state_of(env))
            _, _, terminated, _, _ = env.step(min(actions))
            if terminated:
                env.reset(seed=seed * 1000 + episode)
        out.append(D.state_of(env))
    return out


def test_constants_are_minigrids():
    assert D.OBJECTS == OBJECT_TO_IDX and COLOR_TO_IDX["yellow"] == D.YELLOW
    assert (STATE_TO_IDX["open"], STATE_TO_IDX["closed"], STATE_TO_IDX["locked"]) == (D.OPEN, D.CLOSED, D.LOCKED)


def test_observation_is_minigrids_full_encoding_one_hot_on_the_interior():
    env = FullyObsWrapper(DoorKeyEnv(size=8))
    for seed in range(5):
        image = env.reset(seed=seed)[0]["image"]  # [W, H, 3], agent drawn in
        obs = D.observe([D.state_of(env.unwrapped)])[0]
        inner = image[1:-1, 1:-1].transpose(1, 0, 2)  # → [y, x, 3]
        np.testing.assert_array_equal(obs[:11].argmax(0), inner[..., 0])
        np.testing.assert_array_equal(obs[11:17].argmax(0), inner[..., 1])
        np.testing.assert_array_equal(obs[17:].argmax(0), inner[..., 2])
        assert (obs.sum(0) == 3).all()


@pytest.mark.parametrize("size", [5, 6, 8])
def test_the_expert_solves_every_layout(size):
    env = DoorKeyEnv(size=size)
    for seed in range(15):
        env.reset(seed=seed)
        assert play_expert(env), (size, seed)


def test_key_counterfactuals_are_real_minigrid_states_that_differ_in_one_cell():
    for base in states_along_expert_paths(8, 40):
        if base.carrying:
            free = [c for c in base.cells("empty") if c != tuple(base.agent)]
            cf = D.with_key(base, False, free[0])
            assert cf.key == free[0] and not cf.carrying
        else:
            cf = D.with_key(base, True)
            assert cf.key is None and cf.carrying
            # the same edit done on a real MiniGrid env
            from minigrid.core.world_object import Key

            env = D.to_env(base)
            env.grid.set(*base.key, None)
            env.carrying = Key("yellow")
            np.testing.assert_array_equal(D.state_of(env).grid, cf.grid)
        assert (np.any(cf.grid != base.grid, axis=2)).sum() == 1
        assert play_expert(D.to_env(cf)), "the counterfactual is a state the episode can be finished from"


@pytest.mark.parametrize("edit,message", [
    (lambda s: D.with_key(D.with_key(s, True), True), "already carries the key"),
    (lambda s: D.with_key(s, False, (1, 1)), "does not carry the key"),
    (lambda s: D.with_key(D.with_key(s, True), False), "needs key_cell"),
    (lambda s: D.with_key(D.with_key(s, True), False, (0, 0)), r"key_cell \(0, 0\) holds wall"),
    (lambda s: D.with_key(D.with_key(s, True), False, (9, 9)), "outside the 8×8 grid"),
    (lambda s: D.with_door(D.with_door(s, True), True), "already open"),
])
def test_counterfactuals_that_cannot_exist_are_refused_in_one_line(edit, message):
    env = DoorKeyEnv(size=8)
    env.reset(seed=3)
    with pytest.raises(D.CounterfactualError, match=message):
        edit(D.state_of(env))


def test_pairs_take_has_key_from_the_source():
    states = states_along_expert_paths(8, 60, seed=1)
    carried = next(s for s in states if s.carrying)
    free = next(s for s in states if not s.carrying)
    assert D.key_counterfactual(free, carried).carrying
    back = D.key_counterfactual(carried, free)
    assert back is None or back.key == free.key
    assert D.key_counterfactual(free, free) is None


def test_batched_env_labels_resume_and_refusals():
    env = D.DoorKeyVecEnv(4, size=6, seed=0)
    env.reset(seed=0)
    labels = env.labels()
    assert not labels["has_key"].any() and not labels["door_open"].any() and (labels["key_x"] > 0).all()
    rng = np.random.default_rng(0)
    for _ in range(20):
        env.step(rng.integers(0, D.NUM_ACTIONS, 4))
    saved = env.get_state()
    actions = rng.integers(0, D.NUM_ACTIONS, (40, 4))
    first = [env.step(a)[0] for a in actions]
    env.set_state(saved)
    np.testing.assert_array_equal(np.stack(first), np.stack([env.step(a)[0] for a in actions]))
    with pytest.raises(ValueError, match=r"actions must be 4 integers in 0..5"):
        env.step(np.full(4, 6))
    with pytest.raises(ValueError, match="DoorKey size 9 is not offered"):
        D.DoorKeyVecEnv(1, size=9)


def test_the_batched_env_steps_exactly_like_plain_minigrid_envs():
    """The batched env skips MiniGrid's partial-view rendering and encodes grids its own way: states, rewards
    and ends must still be those of plain DoorKeyEnvs reset with the same seeds and given the same actions."""
    env = D.DoorKeyVecEnv(3, size=8, seed=5)
    seeds = []
    for i in range(3):
        env.envs[i].reset = lambda seed=None, _reset=env.envs[i].reset, _s=seeds: (_s.append(seed), _reset(seed=seed))[1]
    env.reset(seed=5)
    plain = [DoorKeyEnv(size=8) for _ in range(3)]
    for p, s in zip(plain, seeds):
        p.reset(seed=s)
    rng = np.random.default_rng(1)
    for _ in range(300):
        actions = rng.choice([D.LEFT, D.RIGHT, D.FORWARD, D.FORWARD, D.PICKUP, D.TOGGLE], 3)
        _, rewards, terminated, truncated, _ = env.step(actions)
        outcomes = [p.step(int(a))[1:4] for p, a in zip(plain, actions)]
        assert [(t, u) for _, t, u in outcomes] == list(zip(terminated, truncated))
        np.testing.assert_allclose(rewards, [r for r, _, _ in outcomes], rtol=1e-6)  # float32 here
        if (terminated | truncated).any():
            break  # after an episode end the batched env draws its next layout from its own Generator
        for mine, theirs in zip(env.states(), plain):
            np.testing.assert_array_equal(mine.grid, theirs.grid.encode())
            assert (mine.agent, mine.direction, mine.carrying) == (
                tuple(int(v) for v in theirs.agent_pos), theirs.agent_dir, theirs.carrying is not None)


@pytest.mark.slow
def test_splits_draw_disjoint_reset_seeds_and_the_card_measure_is_deterministic():
    import torch

    from mirl.seeding import seed_everything
    from mirl.tasks.doorkey import agent as A
    from mirl.tasks.doorkey import card

    drawn = {}
    for split in ("train", "test"):
        env = D.DoorKeyVecEnv(2, size=6, seed=0, split=split)
        seeds = []
        for i in range(2):
            env.envs[i].reset = lambda seed=None, _reset=env.envs[i].reset, _s=seeds: (_s.append(seed), _reset(seed=seed))[1]
        env.reset(seed=0)
        drawn[split] = seeds
    assert all(s < D.TEST_SEEDS_FROM for s in drawn["train"]) and all(s >= D.TEST_SEEDS_FROM for s in drawn["test"])
    with pytest.raises(ValueError, match="split must be one of"):
        D.DoorKeyVecEnv(1, split="validation")
    seed_everything(0)
    agent = A.build().eval()
    with torch.no_grad():
        first, again = (card.episodes(agent, False, seed=0, episodes=12, num_envs=4) for _ in range(2))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert first[0].shape == (12,) and (first[1] >= 1).all()
