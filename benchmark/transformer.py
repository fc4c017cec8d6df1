"""A TransformerLens transformer as a mirl agent, so that transformer agents (decision transformers, in-context
RL) carry the activation names researchers already use: ``blocks.0.attn.hook_pattern``, ``blocks.0.attn.hook_z``,
``blocks.1.hook_resid_post``.

TransformerLens 4 removed ``HookedTransformer``; its replacement is ``TransformerBridge``, built here from a config
alone (``boot_native``: no model hub, no download), with the classic hook names as aliases of its hook points.
mirl exposes those classic names only (``hook_names``), each with its per-example shape, and attaches hooks
through TransformerLens's own hook points, removed again when the ``hooks()`` context ends.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator, Sequence

import torch

from mirl.hooked import HookedAgent, HookFn


@dataclass(frozen=True)
class TransformerConfig:
    """A small GPT-style transformer over a token vocabulary (pre-LayerNorm, learned positions, causal)."""

    n_layers: int
    d_model: int
    n_heads: int
    d_head: int
    d_mlp: int
    d_vocab: int
    n_ctx: int
    act_fn: str = "relu"
    attn_only: bool = False
    seed: int = 0


READ = "@read"
"""Suffix of a hook point's read view: ``blocks.1.hook_resid_post@read`` is ``blocks.1.hook_resid_post`` at each
row's read position only ([d_model] per example), where the action is read: what a readout of the agent's
current state, or an edit of it, usually wants."""


def position_axis(name: str) -> int:
    """The per-example axis of a hook point's positions (the query's, for an attention pattern)."""
    return 1 if name.endswith("attn.hook_pattern") else 0


def hook_names(n_layers: int, attn_only: bool = False) -> list[str]:
    """The hook points a ``TransformerAgent`` offers, in the order a forward pass reaches them: TransformerLens's
    classic names (the bridge's ``*.hook_in`` / ``*.hook_out`` aliases of the same tensors are left out). Not
    ``attn.hook_attn_scores``: the bridge fires it after the attention has been computed, so an edit there
    changes nothing (it warns); edit ``attn.hook_pattern`` instead."""
    names = ["hook_embed", "hook_pos_embed"]
    for layer in range(n_layers):
        b = f"blocks.{layer}"
        names += [f"{b}.hook_resid_pre", f"{b}.ln1.hook_scale", f"{b}.ln1.hook_normalized",
                  *(f"{b}.attn.hook_{x}" for x in ("q", "k", "v", "pattern", "z")), f"{b}.hook_attn_out"]
        if not attn_only:
            names += [f"{b}.hook_resid_mid", f"{b}.ln2.hook_scale", f"{b}.ln2.hook_normalized", f"{b}.mlp.hook_pre",
                      f"{b}.mlp.hook_post", f"{b}.hook_mlp_out"]
        names.append(f"{b}.hook_resid_post")
    return names + ["ln_final.hook_scale", "ln_final.hook_normalized", "hook_unembed"]


class TransformerAgent(HookedAgent):
    """A policy over token sequences: observations are [B, n_ctx] token ids; the action logits are the
    unembedding's over the vocabulary entries ``action_tokens`` at the last position, or, with ``pad_token``, at
    each row's last token before the padding (a history shorter than the context keeps its positions; causal
    attention never sees the padding after it). No value head: transformer agents here are trained offline, so
    ``value`` is 0."""

    def __init__(self, config: TransformerConfig, action_tokens: Sequence[int], pad_token: int | None = None):
        super().__init__()
        from transformer_lens import TransformerBridge, TransformerBridgeConfig

        bad = [t for t in action_tokens if not 0 <= t < config.d_vocab]
        if bad or not action_tokens:
            raise ValueError(f"action tokens {bad or '[]'} are outside the vocabulary of {config.d_vocab}; "
                             f"use token ids 0..{config.d_vocab - 1}")
        self.config = config
        self.model = TransformerBridge.boot_native(TransformerBridgeConfig(**asdict(config), device="cpu"))
        self.register_buffer("action_tokens", torch.tensor(list(action_tokens), dtype=torch.long), persistent=False)
        if pad_token is not None and not 0 <= pad_token < config.d_vocab:
            raise ValueError(f"pad token {pad_token} is outside the vocabulary of {config.d_vocab}")
        self.pad_token = pad_token
        names = hook_names(config.n_layers, config.attn_only)
        with torch.no_grad():
            _, cache = self.model.run_with_cache(torch.zeros(1, config.n_ctx, dtype=torch.long), names_filter=names)
        missing = [n for n in names if n not in cache]
        if missing:
            raise RuntimeError(f"TransformerLens offers no hook point {missing}: pin transformer-lens as pyproject.toml does")
        self._shapes, self._hook_points, self._views = {}, {}, {}
        for n in names:  # each point, then its read view: the order hooks at one point fire in
            shape = tuple(cache[n].shape[1:])
            axis = position_axis(n)
            self._shapes[n], self._shapes[n + READ] = shape, shape[:axis] + shape[axis + 1:]
            self._hook_points[n] = self._hook_points[n + READ] = self.model.get_hook_point(n)  # aliases share one
            self._views[n + READ] = axis
        self._read = torch.zeros(0, dtype=torch.long)  # the read positions of the forward pass under way

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = obs.long()
        self._read = read_positions(self, tokens)
        logits = self.model(tokens)  # [B, pos, d_vocab]
        actions = logits[torch.arange(len(tokens)), self._read].index_select(-1, self.action_tokens)
        return actions, torch.zeros(len(obs), dtype=actions.dtype)

    def hook_points(self) -> dict[str, tuple[int, ...]]:
        return dict(self._shapes)

    @contextlib.contextmanager
    def hooks(self, fwd: Iterable[tuple[str, HookFn]] = ()) -> Iterator[TransformerAgent]:
        """As ``HookedAgent.hooks``: ``fn(activation, name)`` at TransformerLens hook points (``name`` as asked,
        an alias included), a non-None return replacing the activation; removed when the context ends."""
        attached = []
        try:
            for name, fn in fwd:
                point = self._point(name)
                attached.append((point, point.add_hook(self._adapter(fn, name))))
            yield self
        finally:
            for point, handle in reversed(attached):
                handle.hook.remove()
                point.fwd_hooks = [h for h in point.fwd_hooks if h is not handle]

    def _adapter(self, fn: HookFn, name: str):
        """``fn(activation, name)`` as a TransformerLens hook (called with ``hook=``); for a read view it is given
        the activation at each row's read position (set by ``forward``) and its replacement, if any, is written
        back there."""
        if name not in self._views:
            return lambda act, hook: fn(act, name)
        axis = self._views[name]

        def view(act: torch.Tensor, hook) -> torch.Tensor | None:  # TransformerLens passes ``hook=``
            index = (torch.arange(len(act)),) + (slice(None),) * axis + (self._read,)
            out = fn(act[index], name)
            if out is None:
                return None
            act = act.clone()
            act[index] = out
            return act

        return view

    def active_hooks(self) -> int:
        return sum(len(point.fwd_hooks) for point in set(self._hook_points.values()))


def read_positions(agent: TransformerAgent, tokens: torch.Tensor) -> torch.Tensor:
    """[B]: the position each row's action is read at (its last token before padding, or the last position)."""
    if agent.pad_token is None:
        return torch.full((len(tokens),), tokens.shape[1] - 1, dtype=torch.long)
    return (tokens.long() != agent.pad_token).sum(1) - 1


@torch.no_grad()
def direct_logit_attribution(agent: TransformerAgent, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each component's direct contribution to the action logits, [B, actions] per component, at each row's read
    position: ``hook_embed``, ``hook_pos_embed``, every head (``blocks.L.attn.head{H}``, its z through W_O), each
    layer's attention output bias (``blocks.L.attn.b_O``), each MLP (``blocks.L.hook_mlp_out``) and ``bias`` (the
    final LayerNorm's bias and the unembedding's). The final LayerNorm is linear once its scale is frozen at this
    run's (Elhage et al. 2021's direct path), so the contributions sum to the action logits exactly, up to
    float rounding."""
    cfg, model = agent.config, agent.model
    layers = range(cfg.n_layers)
    names = ["hook_embed", "hook_pos_embed", "ln_final.hook_scale", *(f"blocks.{l}.attn.hook_z" for l in layers),
             *(() if cfg.attn_only else (f"blocks.{l}.hook_mlp_out" for l in layers))]
    _, cache = agent.run_with_cache(tokens, names=names)
    rows, at = torch.arange(len(tokens)), read_positions(agent, tokens)
    norm = model.ln_final._original_component
    unembed = model.W_U[:, agent.action_tokens]
    scale = cache["ln_final.hook_scale"][rows, at]  # [B, 1]

    def through_final_norm(x: torch.Tensor) -> torch.Tensor:  # [B, d_model] → [B, actions]
        return ((x - x.mean(-1, keepdim=True)) / scale * norm.weight) @ unembed

    out = {name: through_final_norm(cache[name][rows, at]) for name in ("hook_embed", "hook_pos_embed")}
    for l in layers:
        z = cache[f"blocks.{l}.attn.hook_z"][rows, at]  # [B, heads, d_head]
        for h in range(cfg.n_heads):
            out[f"blocks.{l}.attn.head{h}"] = through_final_norm(z[:, h] @ model.W_O[l, h])
        out[f"blocks.{l}.attn.b_O"] = through_final_norm(model.b_O[l].expand(len(tokens), -1))
        if not cfg.attn_only:
            out[f"blocks.{l}.hook_mlp_out"] = through_final_norm(cache[f"blocks.{l}.hook_mlp_out"][rows, at])
    out["bias"] = (norm.bias @ unembed + model.b_U[agent.action_tokens]).expand(len(tokens), -1)
    return out
