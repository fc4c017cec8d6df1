"""CoinRun state editing and moved-coin episodes: parse/serialize round trip, coin edits, bad input, outcome
classification, and the stock adapter left unchanged."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from procgen import ProcgenGym3Env

from mirl.tasks.coinrun import state as S
from mirl.tasks.coinrun.env import OUTCOMES, TIMEOUT, CoinRunVecEnv, check_state

STOCK = dict(use_backgrounds=False, restrict_themes=True)  # the adapter's defaults, with easy mode
RIGHT, RIGHT_UP, NOOP = 7, 8, 4


def procgen_env(num=1, seed=0, level=None, mode="easy", **options):
    levels = {} if level is None else dict(start_level=level, num_levels=1)
    return ProcgenGym3Env(num=num, env_name="coinrun", rand_seed=seed, distribution_mode=mode, **levels, **options)


def frames(obs):
    return np.ascontiguousarray(obs["rgb"].transpose(0, 3, 1, 2))


@pytest.fixture(scope="module")
def rollout_states() -> list[bytes]:
    """400 states from right-leaning random rollouts, easy and hard mode, many episodes and entity counts."""
    states = []
    for mode, seed in (("easy", 0), ("hard", 1)):
        env = procgen_env(num=4, seed=seed, mode=mode)
        rng = np.random.default_rng(seed)
        for _ in range(50):
            env.act(rng.choice([1, 4, 5, RIGHT, RIGHT_UP, RIGHT_UP], size=4).astype(np.int32))
            states.extend(env.callmethod("get_state"))
    return states


@pytest.fixture(scope="module")
def hazard_level() -> tuple[int, bytes]:
    """Hard level 1's first state: a saw and five walking enemies."""
    return 1, procgen_env(level=1, mode="hard").callmethod("get_state")[0]


@pytest.fixture(scope="module")
def maze_state() -> bytes:
    return ProcgenGym3Env(num=1, env_name="maze", rand_seed=0).callmethod("get_state")[0]


# ---- parsing ----------------------------------------------------------------------------------------------


def test_parse_serialize_round_trip(rollout_states):
    types, counts = set(), set()
    for raw in rollout_states:
        p = S.parse(raw)
        assert p.to_bytes() == raw
        assert S.agent_position(raw) == (p.agent_x, p.agent_y) == (p.entities[0].x, p.entities[0].y)
        assert p.grid_offset == len(raw) - S.GRID_FROM_END
        np.testing.assert_array_equal(p.grid.ravel(), np.frombuffer(raw, "<i4", 4096, p.grid_offset))
        assert struct.unpack_from("<f", raw, p.step_reward_offset)[0] == p.fields["step_reward"]
        assert struct.unpack_from("<4f", raw, p.entities_offset) == (p.agent_x, p.agent_y, p.agent_vx, p.agent_vy)
        # one coin, in the last open column: the original coin column is recoverable from the walls alone
        assert len(p.coin_cells) == 1 and p.coin_cells[0][0] == p.end_column
        types.update(e.type for e in p.entities)
        counts.add(len(p.entities))
    assert {S.PLAYER, S.SAW, S.ENEMY, S.CRATE} <= types and len(counts) > 5


def test_edits_serialize_where_the_offsets_say(rollout_states):
    """move_coin's in-place byte edit equals editing the parsed grid and reward and serializing."""
    for raw in rollout_states[::25]:
        p = S.parse(raw)
        (ox, oy), (x, y) = p.coin_cells[0], S.standing_cells(p)[-1]
        moved = S.move_coin(raw, x, y)
        p.grid[oy, ox], p.grid[y, x], p.fields["step_reward"] = S.SPACE, S.GOAL, 0.0
        assert p.to_bytes() == moved
        q = S.parse(moved)
        assert q.coin_cells == [(x, y)] and q.end_column == ox and q.fields["step_reward"] == 0.0
        assert S.move_coin(raw, x, y, zero_reward=False)[:p.step_reward_offset] == moved[:p.step_reward_offset]


def test_parse_refuses_broken_states(rollout_states, maze_state):
    raw = rollout_states[-1]
    text = S._LEVEL_SEED_GEN_TEXT
    n = struct.unpack_from("<i", raw, text)[0]
    player_type = S.parse(raw).entities_offset + 24
    broken = {
        "truncated": raw[:1000],
        "not coinrun": maze_state,
        "end marker": raw[:-4] + b"\0\0\0\0",
        "version": struct.pack("<i", 1) + raw[4:],
        # passes the cheap end-relative check, but the fields no longer line up
        "CoinRun state": raw[:text + 10] + b"1234" + raw[text + 10:],
        "length": raw[:text] + struct.pack("<i", n + 10**6) + raw[text + 4:],
        "expected the player": raw[:player_type] + struct.pack("<i", 5) + raw[player_type + 4:],
    }
    check_state(broken["CoinRun state"])
    for message, state in broken.items():
        with pytest.raises(ValueError, match=message):
            S.parse(state)
        with pytest.raises(ValueError):
            S.move_coin(state, 3, 1)


def test_check_state_is_still_importable_from_env():
    from mirl.tasks.coinrun import env

    assert env.check_state is S.check_state and env.STATE_END_MARKER == 0xCAFECAFE and env.GAME == b"coinrun"


def test_standing_cells_are_empty_cells_on_ground(rollout_states):
    for raw in rollout_states[::4]:
        p = S.parse(raw)
        cells = S.standing_cells(raw)
        assert cells and cells == sorted(cells) == S.standing_cells(p)
        centres = {(math.floor(e.x), math.floor(e.y)) for e in p.entities[1:]}
        ax, ay, rx, ry = p.agent_box
        for x, y in cells:
            assert p.grid[y, x] == S.SPACE and p.grid[y - 1, x] in (S.WALL_TOP, S.WALL_MID)
            assert 3 <= x < p.end_column and (x, y) not in centres
            assert not (abs(x + 0.5 - ax) < 0.5 + rx and abs(y + 0.5 - ay) < 0.5 + ry)
            assert S.check_coin_target(p, x, y) == p.coin_cells[0]  # every one is a valid move_coin target


# ---- bad coin targets -------------------------------------------------------------------------------------


def test_bad_coin_targets_are_refused_in_one_line(hazard_level, maze_state):
    _, raw = hazard_level
    p = S.parse(raw)
    saw = next(e for e in p.entities if e.type == S.SAW)
    saw_cell = (math.floor(saw.x), math.floor(saw.y))
    assert p.grid[saw_cell[1], saw_cell[0]] == S.SPACE
    no_coin = S.parse(raw)
    no_coin.grid[no_coin.grid == S.GOAL] = S.SPACE
    hint = r"; choose a SPACE cell, e.g. from standing_cells\(\)"
    cases = [
        (raw, (5, 0), r"coin target \(5, 0\) is inside a wall \(cell value 1[56]\)" + hint),
        (raw, (64, 3), r"coin target \(64, 3\) is off the 64×64 map" + hint),
        (raw, (-1, 3), "off the 64×64 map"),
        (raw, (3, 64), "off the 64×64 map"),
        (raw, saw_cell, rf"coin target \({saw_cell[0]}, {saw_cell[1]}\) is on an entity \(type 2\)"),
        (raw, (1, 1), "overlaps the agent"),
        (raw, (3.0, 1), "integer cell coordinates"),
        (no_coin.to_bytes(), (3, 1), "0 coin cells"),
        (maze_state, (3, 1), "not coinrun"),
    ]
    for state, (x, y), message in cases:
        with pytest.raises(ValueError, match=message) as error:
            S.move_coin(state, x, y)
        assert "\n" not in str(error.value)
    lava_level = S.parse(procgen_env(level=4, mode="hard").callmethod("get_state")[0])
    ys, xs = np.nonzero(np.isin(lava_level.grid, S.LAVA))
    with pytest.raises(ValueError, match=r"inside lava \(cell value 1[78]\)"):
        S.move_coin(lava_level.to_bytes(), int(xs[0]), int(ys[0]))
    assert S.move_coin(raw, *p.coin_cells[0], zero_reward=False) == raw  # the coin "moved" where it is


def test_a_bad_placement_or_state_raises_before_procgen_sees_it(maze_state):
    env = CoinRunVecEnv(1, start_level=0, num_levels=1, coin_placer=lambda p, rng: (5, 0))
    with pytest.raises(ValueError, match="inside a wall"):
        env.reset()
    env = CoinRunVecEnv(1, start_level=0, num_levels=1, coin_placer=S.random_standing_cell)
    env.reset()
    with pytest.raises(ValueError, match="not coinrun"):
        env.set_state({"procgen": [maze_state], "episode_steps": np.zeros(1, dtype=np.int64)})
    env.step(np.array([RIGHT]))  # the process is alive and the env untouched


# ---- moved-coin episodes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("action, target", [(RIGHT, "floor"), (RIGHT_UP, "first block")])
def test_a_scripted_walk_collects_the_moved_coin(action, target):
    def placer(p, rng):
        cells = S.standing_cells(p)
        return cells[0] if target == "floor" else next(c for c in cells if c[1] > 1)  # (3, 1) or (5, h)

    env = CoinRunVecEnv(1, start_level=0, num_levels=1, coin_placer=placer)
    env.reset(seed=0)
    labels = env.labels()
    coin = (labels["coin_x"][0], labels["coin_y"][0])
    assert coin == ((3, 1) if target == "floor" else (5, 5)) and labels["original_coin_x"][0] == 21
    for step in range(1, 31):
        _, reward, terminated, truncated, info = env.step(np.array([action]))
        if terminated[0] or truncated[0]:
            break
        assert reward[0] == 0
    assert terminated[0] and reward[0] == 10.0 and info["outcome"][0] == "coin" and info["level_complete"][0]
    assert step <= (6 if target == "floor" else 25)


def test_first_frame_is_re_rendered_with_the_moved_coin():
    stock, _ = CoinRunVecEnv(1, start_level=0, num_levels=1).reset(seed=0)
    moved, _ = CoinRunVecEnv(1, start_level=0, num_levels=1, coin_placer=lambda p, rng: (3, 1)).reset(seed=0)
    assert 0 < (stock != moved).any(axis=1).sum() < 60  # a coin sprite is a few pixels at 64×64
    raw = procgen_env(level=0, use_backgrounds=False, restrict_themes=True)
    raw.callmethod("set_state", [S.move_coin(raw.callmethod("get_state")[0], 3, 1)])
    np.testing.assert_array_equal(moved, frames(raw.observe()[1]))


def test_the_replayed_terminal_reward_is_zeroed():
    """Pitfall 2 is real: a state read right after the coin holds reward 10, and set_state pays it again."""
    raw = procgen_env(level=0)
    raw.callmethod("set_state", [S.move_coin(raw.callmethod("get_state")[0], 3, 1)])
    for _ in range(10):
        raw.act(np.array([RIGHT], dtype=np.int32))
        reward, _, first = raw.observe()
        if first[0]:
            break
    assert reward[0] == 10.0
    after = raw.callmethod("get_state")[0]
    assert S.parse(after).fields["step_reward"] == 10.0
    raw.callmethod("set_state", [S.move_coin(after, 3, 1, zero_reward=False)])
    assert raw.observe()[0][0] == 10.0
    raw.callmethod("set_state", [S.move_coin(after, 3, 1)])
    assert raw.observe()[0][0] == 0.0


def test_the_coin_is_moved_at_every_episode_start_and_paid_once():
    env = CoinRunVecEnv(4, seed=3, coin_placer=S.random_standing_cell)
    env.reset()
    rng = np.random.default_rng(0)
    total = coins = episodes = 0

    def check_states() -> None:
        labels = env.labels()
        for i, raw in enumerate(env.get_state()["procgen"]):
            p = S.parse(raw)
            assert p.coin_cells == [(labels["coin_x"][i], labels["coin_y"][i])]
            assert labels["coin_x"][i] < labels["original_coin_x"][i] == p.end_column
            assert (labels["agent_x"][i], labels["agent_y"][i]) == S.agent_position(raw)

    check_states()
    for _ in range(250):
        _, reward, terminated, truncated, info = env.step(rng.choice([1, 4, 5, RIGHT, RIGHT_UP, RIGHT_UP], size=4))
        done = terminated | truncated
        assert set(info["outcome"][done]) <= set(OUTCOMES) and (info["outcome"][~done] == "").all()
        assert (reward[~done] == 0).all()  # no replayed 10 on a new episode's first step
        assert (info["level_complete"] == (info["outcome"] == "coin")).all()
        total += reward.sum()
        coins += (info["outcome"] == "coin").sum()
        episodes += done.sum()
        if done.any():
            check_states()
    assert episodes >= 8 and coins >= 3 and total == 10 * coins


def test_an_agent_that_runs_right_ends_at_the_original_column():
    # the coin parked in the air at the start, out of reach (the note's test C); easy level 1 is runnable
    env = CoinRunVecEnv(1, start_level=1, num_levels=1, coin_placer=lambda p, rng: (2, 12),
                        end_at_original_column=True)
    env.reset(seed=0)
    for step in range(1, 101):
        labels = env.labels()
        _, reward, terminated, truncated, info = env.step(np.array([RIGHT if step % 2 else RIGHT_UP]))
        if terminated[0] or truncated[0]:
            break
    assert info["outcome"][0] == "end" and truncated[0] and not terminated[0] and reward[0] == 0
    assert labels["agent_x"][0] >= labels["original_coin_x"][0]  # where it stood when the episode was ended
    after = env.labels()
    assert (after["coin_x"][0], after["coin_y"][0]) == (2, 12) and after["agent_x"][0] < 2  # moved again


def test_a_coinless_episode_times_out():
    env = CoinRunVecEnv(1, start_level=0, num_levels=1, coin_placer=lambda p, rng: (2, 12))
    env.reset(seed=0)
    for step in range(1, TIMEOUT + 1):
        _, reward, terminated, truncated, info = env.step(np.array([NOOP]))
        if terminated[0] or truncated[0]:
            break
    assert step == TIMEOUT and truncated[0] and info["outcome"][0] == "timeout" and reward[0] == 0


def test_episodes_can_be_cut_short_as_timeouts():
    env = CoinRunVecEnv(2, start_level=0, num_levels=1, track_outcomes=True, max_episode_steps=30)
    env.reset(seed=0)
    for step in range(1, 31):
        _, reward, terminated, truncated, info = env.step(np.array([NOOP, NOOP]))
    assert truncated.all() and not terminated.any() and list(info["outcome"]) == ["timeout", "timeout"]
    with pytest.raises(ValueError, match="needs track_outcomes"):
        CoinRunVecEnv(1, max_episode_steps=30)


def test_labels_place_the_coin_relative_to_the_agent():
    env = CoinRunVecEnv(2, seed=0, coin_placer=S.random_standing_cell)
    env.reset()
    for _ in range(5):
        env.step(np.array([RIGHT, RIGHT_UP]))
    labels = env.labels()
    assert set(labels) == {"level_seed", "agent_x", "agent_y", "coin_x", "coin_y", "original_coin_x", "coin_dx",
                           "coin_dy", "coin_visible", "saws"}
    np.testing.assert_allclose(labels["coin_dx"], labels["coin_x"] + 0.5 - labels["agent_x"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(labels["coin_dy"], labels["coin_y"] + 0.5 - labels["agent_y"], rtol=0, atol=1e-5)
    visible = (np.abs(labels["coin_dx"]) < 6.5) & (np.abs(labels["coin_dy"]) < 6.5)
    np.testing.assert_array_equal(labels["coin_visible"], visible)
    for i, raw in enumerate(env.get_state()["procgen"]):
        assert S.parse(raw).fields["center_x"] == labels["agent_x"][i]  # the view is centred on the agent
        types = S.parse(raw).entity_records[:, S.ENTITY_FIELDS.index("type")]
        assert labels["saws"][i] == (types == S.SAW).sum()


# ---- how episodes end ------------------------------------------------------------------------------------


@pytest.mark.parametrize("hazard", ["lava", "saw", "enemy"])
def test_a_constructed_death_is_classified(hazard_level, hazard):
    """The cell right of the spawn made lava, or a saw or an enemy moved there: walking right dies of it."""
    level, raw = hazard_level
    p = S.parse(raw)
    if hazard == "lava":
        p.grid[1, 2] = S.LAVA_TOP
    else:
        kind = S.SAW if hazard == "saw" else S.ENEMY
        k = next(k for k, e in enumerate(p.entities) if e.type == kind)
        p.entity_records[k, :2] = np.array([2.5 + 0.3, 1.5], dtype="<f4").view("<i4")
    env = CoinRunVecEnv(1, start_level=level, num_levels=1, distribution_mode="hard", track_outcomes=True)
    env.reset(seed=0)
    env.set_state({"procgen": [p.to_bytes()], "episode_steps": np.zeros(1, dtype=np.int64)})
    for _ in range(10):
        _, reward, terminated, truncated, info = env.step(np.array([RIGHT]))
        if terminated[0]:
            break
    assert terminated[0] and reward[0] == 0 and info["outcome"][0] == hazard


def test_real_deaths_are_classified_by_the_hazard_at_hand(monkeypatch):
    env = CoinRunVecEnv(8, seed=1, distribution_mode="hard", track_outcomes=True)
    env.reset()
    deaths = []
    classify = CoinRunVecEnv._death_cause

    def spy(self, i: int) -> str:  # patched on the class: an env holding a closure over itself never gets freed
        cause = classify(self, i)
        deaths.append((cause, *self.last_state_before(i)))
        return cause

    monkeypatch.setattr(CoinRunVecEnv, "_death_cause", spy)
    rng = np.random.default_rng(0)
    replays = 0
    for t in range(300):
        before = [env._read(i) for i in range(8)] if t % 40 == 39 else None
        _, _, terminated, truncated, info = env.step(rng.choice([1, 4, 5, RIGHT, RIGHT_UP, RIGHT_UP], size=8))
        if before is not None:  # the replay that recovers a pre-death state is exact
            for i in np.flatnonzero(~(terminated | truncated) & (env._age > 0)):
                assert env.last_state_before(i)[0] == before[i]
                replays += 1
    assert replays >= 20 and len(deaths) >= 10 and {c for c, _, _ in deaths} >= {"saw", "enemy"}
    for cause, before, action in deaths:
        assert cause in ("lava", "saw", "enemy")
        assert cause in S.touching(S.parse(before), margin=1.0)  # the killer was within a step's reach


def test_tracked_env_resumes_exactly():
    def make():
        return CoinRunVecEnv(4, seed=2, coin_placer=S.random_standing_cell, end_at_original_column=True)

    rng = np.random.default_rng(0)
    actions = rng.choice([1, 4, 5, RIGHT, RIGHT_UP, RIGHT_UP], size=(120, 4))
    a = make()
    a.reset()
    for act in actions[:60]:
        a.step(act)
    b = make()
    b.set_state(a.get_state())
    for act in actions[60:]:
        out_a, out_b = a.step(act), b.step(act)
        for x, y in zip(out_a[:4], out_b[:4]):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(out_a[4]["outcome"], out_b[4]["outcome"])
        for key, value in a.labels().items():
            np.testing.assert_array_equal(value, b.labels()[key])


# ---- the stock adapter is unchanged --------------------------------------------------------------------


def test_the_default_env_is_stock_procgen():
    """No placer: observations, rewards and episode ends are procgen's own, and the info, labels and state keys
    are what they always were. A placer that never moves the coin changes nothing either."""
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 15, size=(80, 4))
    raw = procgen_env(num=4, seed=5, start_level=0, num_levels=100_000, **STOCK)
    stock = CoinRunVecEnv(4, seed=5)
    idle = CoinRunVecEnv(4, seed=5, coin_placer=lambda p, rng: None, track_outcomes=False)
    obs, info = stock.reset()
    assert info == {} and not stock.tracking
    np.testing.assert_array_equal(obs, frames(raw.observe()[1]))
    np.testing.assert_array_equal(obs, idle.reset()[0])
    for act in actions:
        raw.act(act.astype(np.int32))
        reward, raw_obs, first = raw.observe()
        obs, rew, terminated, truncated, info = stock.step(act)
        np.testing.assert_array_equal(obs, frames(raw_obs))
        np.testing.assert_array_equal(rew, reward)
        np.testing.assert_array_equal(terminated | truncated, first)
        assert set(info) == {"level_complete"} and set(stock.labels()) == {"level_seed"}
        idle_out = idle.step(act)
        for x, y in zip(idle_out[:4], (obs, rew, terminated, truncated)):
            np.testing.assert_array_equal(x, y)
    assert set(stock.get_state()) == {"procgen", "episode_steps"}
