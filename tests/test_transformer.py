"""mirl.transformer: a TransformerLens transformer as a mirl agent — TransformerLens's own hook names and shapes,
every offered hook point editable, hooks that never outlive their context, the same cache as TransformerLens's
own ``run_with_cache``, and seeded weights."""

from __future__ import annotations

import pytest
import torch

from mirl.errors import UnknownIdError
from mirl.transformer import READ, TransformerAgent, TransformerConfig, hook_names

SMALL = TransformerConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=20, n_ctx=12)
ATTN_ONLY = TransformerConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_mlp=0, d_vocab=10, n_ctx=6,
                              attn_only=True)
ACTIONS = [3, 4, 5]

BASE_ATTN_ONLY = {
    "hook_embed": (6, 16), "hook_pos_embed": (6, 16), "blocks.0.hook_resid_pre": (6, 16),
    "blocks.0.ln1.hook_scale": (6, 1), "blocks.0.ln1.hook_normalized": (6, 16),
    "blocks.0.attn.hook_q": (6, 2, 8), "blocks.0.attn.hook_k": (6, 2, 8), "blocks.0.attn.hook_v": (6, 2, 8),
    "blocks.0.attn.hook_pattern": (2, 6, 6), "blocks.0.attn.hook_z": (6, 2, 8), "blocks.0.hook_attn_out": (6, 16),
    "blocks.0.hook_resid_post": (6, 16), "ln_final.hook_scale": (6, 1), "ln_final.hook_normalized": (6, 16),
    "hook_unembed": (6, 10),
}
# each point, then its read view: the point at each row's read position (the query's, for the pattern)
GOLDEN_ATTN_ONLY = {k: v for name, shape in BASE_ATTN_ONLY.items() for k, v in (
    (name, shape), (name + READ, shape[:1] + shape[2:] if name.endswith("hook_pattern") else shape[1:]))}


@pytest.fixture(scope="module")
def agent():
    return TransformerAgent(SMALL, ACTIONS).eval()


def tokens(config: TransformerConfig = SMALL, batch: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, config.d_vocab, (batch, config.n_ctx), generator=torch.Generator().manual_seed(seed))


def test_hook_names_and_shapes_are_transformer_lens_s_in_execution_order(agent):
    small = TransformerAgent(ATTN_ONLY, [0, 1])
    assert small.hook_points() == GOLDEN_ATTN_ONLY and list(small.hook_points()) == list(GOLDEN_ATTN_ONLY)
    points = agent.hook_points()
    assert list(points) == [n for base in hook_names(2) for n in (base, base + READ)] and len(points) == 2 * 37
    assert points["blocks.1.attn.hook_pattern"] == (4, 12, 12) and points["blocks.0.mlp.hook_post"] == (12, 64)
    fired = []
    with torch.no_grad(), agent.hooks([(name, lambda act, name: fired.append((name, tuple(act.shape[1:]))))
                                       for name in points]):
        agent(tokens())
    assert fired == list(points.items())  # each once, in the listed order, with its declared shape


def test_the_cache_is_transformer_lens_s_own(agent):
    x = tokens()
    with torch.no_grad():
        (logits, value), cache = agent.run_with_cache(x)
        _, theirs = agent.model.run_with_cache(x, names_filter=list(agent.hook_points()))
        full = agent.model(x)
    assert set(cache) == set(agent.hook_points())
    for name in hook_names(SMALL.n_layers):
        torch.testing.assert_close(cache[name], theirs[name], rtol=0, atol=0)
        torch.testing.assert_close(cache[name + READ], cache[name][:, :, -1] if name.endswith("hook_pattern")
                                   else cache[name][:, -1], rtol=0, atol=0)  # no padding: read at the last
    torch.testing.assert_close(logits, full[:, -1, ACTIONS])  # the action logits: the last position's, these tokens
    assert value.shape == (3,) and not value.any()


def test_every_offered_hook_point_is_editable_and_no_hook_survives(agent):
    x = tokens()
    with torch.no_grad():
        base = agent(x)[0]
        for name in agent.hook_points():
            with agent.hooks([(name, lambda act, _name: act + torch.randn_like(act))]):
                assert agent.active_hooks() == 1
                assert not torch.allclose(agent(x)[0], base), name
            assert agent.active_hooks() == 0
        with pytest.raises(RuntimeError, match="boom"), agent.hooks([("blocks.0.attn.hook_z", lambda a, n: a * 0)]):
            raise RuntimeError("boom")
        assert agent.active_hooks() == 0
        torch.testing.assert_close(agent(x)[0], base, rtol=0, atol=0)


def test_a_head_ablation_and_edits_in_order():
    agent = TransformerAgent(SMALL, ACTIONS).eval()
    x = tokens()

    def ablate(head):
        def edit(act, _name):
            act = act.clone()
            act[:, :, head] = 0
            return act

        return edit

    with torch.no_grad():
        base = agent(x)[0]
        # zeroing every head's z is the same as zeroing the attention's output before its bias
        with agent.hooks([("blocks.0.attn.hook_z", ablate(h)) for h in range(SMALL.n_heads)]):
            all_heads = agent(x)[0]
        with agent.hooks([("blocks.0.attn.hook_z", lambda a, n: a * 0)]):
            zeroed = agent(x)[0]
        torch.testing.assert_close(all_heads, zeroed)
        assert not torch.allclose(all_heads, base)
        seen = []
        with agent.hooks([("hook_embed", lambda a, n: seen.append(1) or a * 2),
                          ("hook_embed", lambda a, n: seen.append(float(a.abs().sum())) or None)]):
            agent(x)
        _, cache = agent.run_with_cache(x, names=["hook_embed"])
        assert seen[1] == pytest.approx(2 * float(cache["hook_embed"].abs().sum()))  # the second sees the first's


def test_weights_follow_the_seed_and_reload_exactly(tmp_path):
    first, again = TransformerAgent(SMALL, ACTIONS), TransformerAgent(SMALL, ACTIONS)
    other = TransformerAgent(TransformerConfig(**{**SMALL.__dict__, "seed": 1}), ACTIONS)
    state = first.state_dict()
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in state.items())
    assert not all(torch.equal(v, other.state_dict()[k]) for k, v in state.items())
    torch.save(first.state_dict(), tmp_path / "agent.pt")
    other.load_state_dict(torch.load(tmp_path / "agent.pt", weights_only=True))
    x = tokens()
    with torch.no_grad():
        torch.testing.assert_close(other(x)[0], first(x)[0], rtol=0, atol=0)


def test_a_padded_history_is_read_at_its_last_token():
    agent = TransformerAgent(SMALL, ACTIONS, pad_token=19).eval()
    x = tokens()
    x[x == 19] = 0
    x[0, 5:], x[1, 9:] = 19, 19
    with torch.no_grad():
        logits = agent(x)[0]
        full = agent.model(x)
    torch.testing.assert_close(logits, full[[0, 1, 2], [4, 8, 11]][:, ACTIONS])
    short = x[:1, :5]  # the same history in a context of its own length: what the padding must not change
    with torch.no_grad():
        torch.testing.assert_close(agent.model(short)[0, -1, ACTIONS], logits[0], rtol=1e-5, atol=1e-6)


def test_a_read_view_reads_and_edits_each_row_at_its_read_position():
    agent = TransformerAgent(SMALL, ACTIONS, pad_token=19).eval()
    x = tokens() % 19
    x[0, 4:] = 19
    at = torch.tensor([3, 11, 11])
    shift = torch.randn(32)
    with torch.no_grad():
        _, cache = agent.run_with_cache(x, names=["blocks.0.hook_resid_post", "blocks.0.hook_resid_post" + READ])
        torch.testing.assert_close(cache["blocks.0.hook_resid_post" + READ],
                                   cache["blocks.0.hook_resid_post"][torch.arange(3), at], rtol=0, atol=0)
        with agent.hooks([("blocks.0.hook_resid_post" + READ, lambda act, _n: act + shift)]):
            viewed = agent(x)[0]

        def by_hand(act, _name):
            act = act.clone()
            act[torch.arange(3), at] += shift
            return act

        with agent.hooks([("blocks.0.hook_resid_post", by_hand)]):
            torch.testing.assert_close(agent(x)[0], viewed, rtol=0, atol=0)
    assert agent.active_hooks() == 0


def test_bad_input_is_one_line(agent):
    with pytest.raises(ValueError, match=r"action tokens \[20\] are outside the vocabulary of 20; use token ids 0..19"):
        TransformerAgent(SMALL, [3, 20])
    with pytest.raises(UnknownIdError, match="unknown hook point 'blocks.0.attn.hook_attn_scores'"):
        with agent.hooks([("blocks.0.attn.hook_attn_scores", lambda a, n: a)]):
            pass
    assert agent.active_hooks() == 0


def test_transformer_lens_came_without_a_cuda_torch():
    import transformer_lens  # noqa: F401  (imported: what it pulled in is loaded)

    assert torch.version.cuda is None


def test_direct_logit_attributions_sum_to_the_action_logits():
    from mirl.transformer import direct_logit_attribution

    for config in (SMALL, ATTN_ONLY):
        agent = TransformerAgent(config, [1, 2], pad_token=config.d_vocab - 1).eval()
        x = tokens(config, batch=4) % (config.d_vocab - 1)
        x[0, 3:] = config.d_vocab - 1  # a short history: read at its last token
        parts = direct_logit_attribution(agent, x)
        heads = [k for k in parts if ".attn.head" in k]
        assert len(heads) == config.n_layers * config.n_heads and "bias" in parts and "hook_embed" in parts
        assert ("blocks.0.hook_mlp_out" in parts) != config.attn_only
        with torch.no_grad():
            torch.testing.assert_close(sum(parts.values()), agent(x)[0], rtol=0, atol=1e-5)
    with torch.no_grad():  # a head whose output weights are zero contributes nothing directly
        agent.model.blocks[0].attn._original_component.o._original_component.weight[:, :8] = 0
    silent = direct_logit_attribution(agent, x)["blocks.0.attn.head0"]
    assert not silent.any()
