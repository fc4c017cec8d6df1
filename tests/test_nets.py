"""The shared architectures in ``mirl.nets``: pinned hook names and shapes, hooks that fire and never leak,
edits confined to their context, and the DRC's recurrent contract (state shapes, resets, ticks, determinism)."""

from __future__ import annotations

import pytest
import torch

from mirl.errors import UnknownIdError
from mirl.nets import DRC, GridCNN, ImpalaCNN

# --- small configurations, pinned -----------------------------------------------------------------------


def small_impala() -> ImpalaCNN:
    return ImpalaCNN(obs_shape=(3, 16, 16), num_actions=5, channels=(4, 8, 8), hidden=16)


def small_grid() -> GridCNN:
    return GridCNN(in_channels=3, size=5, num_actions=4, channels=8, layers=2, hidden=16)


def small_drc() -> DRC:
    return DRC(in_channels=4, size=6, num_actions=4, depth=2, ticks=2, channels=8, hidden=16)


GOLDEN_IMPALA = {
    "hook_obs": (3, 16, 16),
    "encoder.stack0.hook_out": (4, 8, 8),
    "encoder.stack0.res0.hook_out": (4, 8, 8),
    "encoder.stack0.res1.hook_out": (4, 8, 8),
    "encoder.stack1.hook_out": (8, 4, 4),
    "encoder.stack1.res0.hook_out": (8, 4, 4),
    "encoder.stack1.res1.hook_out": (8, 4, 4),
    "encoder.stack2.hook_out": (8, 2, 2),
    "encoder.stack2.res0.hook_out": (8, 2, 2),
    "encoder.stack2.res1.hook_out": (8, 2, 2),
    "encoder.hook_out": (8, 2, 2),
    "dense.hook_out": (16,),
    "policy.hook_logits": (5,),
    "value.hook_value": (1,),
}

GOLDEN_GRID = {
    "hook_obs": (3, 5, 5),
    "encoder.conv0.hook_out": (8, 5, 5),
    "encoder.conv1.hook_out": (8, 5, 5),
    "dense.hook_out": (16,),
    "policy.hook_logits": (4,),
    "value.hook_value": (1,),
}

GOLDEN_DRC = {
    "hook_obs": (4, 6, 6),
    "encoder.hook_out": (8, 6, 6),
    "core.layer0.tick0.hook_h": (8, 6, 6),
    "core.layer0.tick0.hook_c": (8, 6, 6),
    "core.layer0.tick1.hook_h": (8, 6, 6),
    "core.layer0.tick1.hook_c": (8, 6, 6),
    "core.layer1.tick0.hook_h": (8, 6, 6),
    "core.layer1.tick0.hook_c": (8, 6, 6),
    "core.layer1.tick1.hook_h": (8, 6, 6),
    "core.layer1.tick1.hook_c": (8, 6, 6),
    "dense.hook_out": (16,),
    "policy.hook_logits": (4,),
    "value.hook_value": (1,),
}

# (factory, golden hooks, a middle hook point to edit)
ARCHS = {
    "impala": (small_impala, GOLDEN_IMPALA, "encoder.stack1.res0.hook_out"),
    "grid": (small_grid, GOLDEN_GRID, "encoder.conv0.hook_out"),
    "drc": (small_drc, GOLDEN_DRC, "core.layer0.tick0.hook_h"),
}


def make(arch: str, seed: int = 0):
    torch.manual_seed(seed)
    return ARCHS[arch][0]().eval()


def observation(agent, batch: int = 3, seed: int = 1) -> torch.Tensor:
    shape = agent.hook_points()["hook_obs"]
    return torch.rand((batch, *shape), generator=torch.Generator().manual_seed(seed))


def assert_no_hooks(agent) -> None:
    assert agent.active_hooks() == 0
    for module in agent.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
        assert not getattr(module, "fns", [])


# --- every architecture ---------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
def test_hook_names_and_shapes_are_pinned(arch):
    agent = make(arch)
    assert agent.hook_points() == ARCHS[arch][1]
    # order too: it is execution order, which is how people read a cache
    assert list(agent.hook_points()) == list(ARCHS[arch][1])


@pytest.mark.parametrize("arch", ARCHS)
def test_every_hook_fires_once_with_its_declared_shape_and_none_survives(arch):
    agent = make(arch)
    obs = observation(agent)
    calls: dict[str, int] = {}

    def count(act, name):
        calls[name] = calls.get(name, 0) + 1

    with torch.no_grad():
        out, cache = agent.run_with_cache(obs)
        with agent.hooks([(name, count) for name in agent.hook_points()]):
            agent(obs)
    assert {k: tuple(v.shape[1:]) for k, v in cache.items()} == ARCHS[arch][1]
    assert all(v.shape[0] == 3 for v in cache.values())
    assert calls == {name: 1 for name in ARCHS[arch][1]}
    assert torch.equal(cache["policy.hook_logits"], out[0])
    assert torch.equal(cache["value.hook_value"].squeeze(-1), out[1])
    assert_no_hooks(agent)


@pytest.mark.parametrize("arch", ARCHS)
def test_hooks_are_removed_when_the_context_raises(arch):
    agent = make(arch)
    middle = ARCHS[arch][2]
    with pytest.raises(RuntimeError, match="boom"):
        with agent.hooks([(middle, lambda act, name: act * 0), ("hook_obs", lambda act, name: None)]):
            raise RuntimeError("boom")
    assert_no_hooks(agent)


@pytest.mark.parametrize("arch", ARCHS)
def test_unknown_hook_name_raises_and_lists_the_valid_names(arch):
    agent = make(arch)
    with pytest.raises(UnknownIdError) as info:
        agent.run_with_cache(observation(agent), names=["dense.hook_out", "encoder.no_such.hook_out"])
    message = str(info.value)
    assert "encoder.no_such.hook_out" in message
    assert all(name in message for name in ARCHS[arch][1])
    # also unknown inside hooks(): the hooks attached before the bad name are taken off again
    with pytest.raises(UnknownIdError):
        with agent.hooks([("dense.hook_out", lambda act, name: act), ("nope.hook_out", lambda act, name: act)]):
            pass
    assert_no_hooks(agent)


@pytest.mark.parametrize("arch", ARCHS)
def test_edits_change_outputs_only_inside_the_context(arch):
    agent = make(arch)
    obs = observation(agent)
    middle = ARCHS[arch][2]
    with torch.no_grad():
        base = agent(obs)[0]
        with agent.hooks([(middle, lambda act, name: act * 0 + 1.0)]):
            edited = agent(obs)[0]
            _, cache = agent.run_with_cache(obs, names=[middle])  # the cache sees the edited activation
        after = agent(obs)[0]
    assert not torch.allclose(base, edited)
    assert torch.equal(after, base)
    assert torch.equal(cache[middle], torch.ones_like(cache[middle]))
    assert_no_hooks(agent)


def test_two_hooks_at_one_point_chain_in_order():
    agent = make("grid")
    obs = observation(agent)
    seen = []
    with torch.no_grad(), agent.hooks(
        [("dense.hook_out", lambda act, name: act * 0 + 2.0), ("dense.hook_out", lambda act, name: seen.append(act))]
    ):
        agent(obs)
    assert torch.equal(seen[0], torch.full_like(seen[0], 2.0))
    assert_no_hooks(agent)


def test_run_with_cache_keeps_the_graph_when_asked():
    agent = make("grid")
    (logits, _), cache = agent.run_with_cache(observation(agent), names=["encoder.conv1.hook_out"], detach=False)
    act = cache["encoder.conv1.hook_out"]
    (grad,) = torch.autograd.grad(logits.sum(), act)
    assert grad.shape == act.shape and grad.abs().sum() > 0


@pytest.mark.parametrize("arch", ARCHS)
def test_same_seed_same_weights_same_outputs(arch):
    a, b, c = make(arch, seed=3), make(arch, seed=3), make(arch, seed=4)
    obs = observation(a)
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)
    with torch.no_grad():
        assert torch.equal(a(obs)[0], b(obs)[0])
        assert not torch.equal(a(obs)[0], c(obs)[0])


# --- ImpalaCNN ------------------------------------------------------------------------------------------


def test_impala_scales_uint8_frames():
    agent = make("impala")
    frames = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    with torch.no_grad():
        from_uint8 = agent(frames)
        from_float = agent(frames.float() / 255)
        _, cache = agent.run_with_cache(frames, names=["hook_obs"])
    assert torch.equal(from_uint8[0], from_float[0])
    assert cache["hook_obs"].dtype == torch.float32 and float(cache["hook_obs"].max()) <= 1.0


def test_parameter_counts():
    def count(agent):
        return sum(p.numel() for p in agent.parameters())

    impala = ImpalaCNN()  # CleanRL's procgen agent: 3×64×64, 15 actions, channels (16, 32, 32), hidden 256
    assert count(impala) == 626_256 <= 1_500_000
    assert impala.hook_points()["encoder.hook_out"] == (32, 8, 8)
    assert count(GridCNN(in_channels=5, size=8, num_actions=4)) == 545_797
    assert count(DRC(in_channels=4, size=6, num_actions=4, depth=2, ticks=2, channels=16)) == 374_277


# --- DRC ------------------------------------------------------------------------------------------------


def test_drc_output_and_state_shapes():
    agent = make("drc")
    obs = observation(agent, batch=5)
    h0, c0 = agent.initial_state(5)
    assert h0.shape == c0.shape == (5, 2, 8, 6, 6)
    assert not h0.any() and not c0.any()
    assert agent.recurrent
    with torch.no_grad():
        logits, value, (h, c) = agent(obs, (h0, c0))
        same = agent(obs)  # state=None means the initial state
    assert logits.shape == (5, 4) and value.shape == (5,)
    assert h.shape == c.shape == (5, 2, 8, 6, 6)
    assert h.any() and c.any()
    assert torch.equal(same[0], logits) and torch.equal(same[2][0], h)


def test_drc_state_is_the_last_tick_of_each_layer():
    agent = make("drc")
    obs = observation(agent)
    with torch.no_grad():
        (_, _, (h, c)), cache = agent.run_with_cache(obs, state=agent.initial_state(3))
    for d in range(2):
        assert torch.equal(h[:, d], cache[f"core.layer{d}.tick1.hook_h"])
        assert torch.equal(c[:, d], cache[f"core.layer{d}.tick1.hook_c"])


def test_drc_ticks_fire_once_per_step():
    torch.manual_seed(0)
    agent = DRC(in_channels=4, size=6, num_actions=4, depth=3, ticks=4, channels=4, hidden=8)
    obs = observation(agent, batch=2)
    calls: dict[str, int] = {}

    def count(act, name):
        calls[name] = calls.get(name, 0) + 1

    state = None
    with torch.no_grad(), agent.hooks([(name, count) for name in agent.hook_points()]):
        for _ in range(3):
            _, _, state = agent.act(obs, state)
    ticks = {f"core.layer{d}.tick{n}.hook_{x}" for d in range(3) for n in range(4) for x in "hc"}
    assert ticks <= set(calls) and len(calls) == len(ticks) + 5
    assert all(count == 3 for count in calls.values())
    assert_no_hooks(agent)


def test_drc_layer0_reads_the_top_layer_of_the_previous_tick():
    agent = make("drc")
    obs = observation(agent)
    names = ["core.layer0.tick0.hook_h", "core.layer0.tick1.hook_h"]
    with torch.no_grad():
        _, base = agent.run_with_cache(obs, names=names)
        # Editing the top layer at tick 0 reaches layer 0 at tick 1 (the top-down wire) ...
        with agent.hooks([("core.layer1.tick0.hook_h", lambda act, name: act + 1.0)]):
            _, top_edit = agent.run_with_cache(obs, names=names)
        # ... and editing the top layer at the last tick reaches no earlier activation.
        with agent.hooks([("core.layer1.tick1.hook_h", lambda act, name: act + 1.0)]):
            _, late_edit = agent.run_with_cache(obs, names=names)
    assert torch.equal(top_edit[names[0]], base[names[0]])
    assert not torch.allclose(top_edit[names[1]], base[names[1]])
    assert all(torch.equal(late_edit[n], base[n]) for n in names)


def test_drc_act_resets_exactly_the_rows_that_start():
    agent = make("drc")
    obs = observation(agent, batch=4)
    with torch.no_grad():
        state = None
        for step in range(2):  # a non-trivial state to reset from
            _, _, state = agent.act(observation(agent, batch=4, seed=10 + step), state)
        starts = torch.tensor([True, False, True, False])
        logits, value, (h, c) = agent.act(obs, state, starts)
        fresh = agent.act(obs, None)
        carried = agent.act(obs, state)
        unchanged = agent.act(obs, state, torch.zeros(4, dtype=torch.bool))
    assert state[0][starts].any()  # the rows being reset did hold something
    for mine, f, k in zip((logits, value, h, c), (*fresh[:2], *fresh[2]), (*carried[:2], *carried[2])):
        torch.testing.assert_close(mine[starts], f[starts], rtol=0, atol=1e-6)
        torch.testing.assert_close(mine[~starts], k[~starts], rtol=0, atol=1e-6)
    assert torch.equal(unchanged[0], carried[0])


def test_feed_forward_act_has_no_state():
    agent = make("grid")
    obs = observation(agent)
    with torch.no_grad():
        logits, value, state = agent.act(obs, None, torch.ones(3, dtype=torch.bool))
        assert state is None and torch.equal(logits, agent(obs)[0])
