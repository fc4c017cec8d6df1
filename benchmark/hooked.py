"""Hooked agents: every intermediate activation is a named hook point.

Names are module paths with a ``hook_`` leaf (``encoder.hook_out``, ``policy.hook_logits``). Hooks are
temporary: they live only inside ``with agent.hooks(...)`` or one ``run_with_cache`` call, so no hook
survives its context (the "hooks are global state" footgun of long-lived forward hooks).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from mirl.errors import UnknownIdError

HookFn = Callable[[torch.Tensor, str], "torch.Tensor | None"]


class HookPoint(nn.Module):
    """An identity module marking a named activation; ``shape`` is the per-example shape (no batch dim)."""

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.name = ""  # filled in by HookedAgent.setup_hooks()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def extra_repr(self) -> str:
        return f"shape={list(self.shape)}"


class HookedAgent(nn.Module):
    """Base class of mirl agents. Subclasses build their layers, then call ``setup_hooks()``.

    Feed-forward agents: ``forward(obs) -> (logits [B, A], value [B])``.
    Recurrent agents set ``recurrent = True`` and implement ``initial_state(batch)`` and
    ``forward(obs, state) -> (logits, value, new_state)``; the state is a tuple of tensors with the batch first.
    ``act(obs, state, starts)`` is the one call trainers, rollouts and scorers use for both kinds.
    """

    recurrent: bool = False

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, ...] | None:
        """The state at the start of an episode (None for feed-forward agents)."""
        return None

    def act(
        self, obs: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None, starts: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """One environment step: (logits, value, new state). ``starts`` [B] marks envs whose episode begins at
        ``obs``; their state is reset to the initial state first."""
        if not self.recurrent:
            logits, value = self(obs)
            return logits, value, None
        if state is None:
            state = self.initial_state(obs.shape[0])
        elif starts is not None and bool(starts.any()):
            fresh = self.initial_state(obs.shape[0])
            keep = (~starts.bool()).to(obs.dtype)
            state = tuple(
                s * keep.view(-1, *([1] * (s.ndim - 1))) + f * (1 - keep).view(-1, *([1] * (s.ndim - 1)))
                for s, f in zip(state, fresh)
            )
        return self(obs, state)

    def setup_hooks(self) -> None:
        self._hook_points: dict[str, HookPoint] = {}
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
                self._hook_points[name] = module

    def hook_points(self) -> dict[str, tuple[int, ...]]:
        """Every hook point name with its per-example activation shape."""
        return {name: hp.shape for name, hp in self._hook_points.items()}

    def _point(self, name: str) -> HookPoint:
        try:
            return self._hook_points[name]
        except KeyError:
            raise UnknownIdError(f"unknown hook point {name!r}; this agent has {sorted(self._hook_points)}") from None

    @contextlib.contextmanager
    def hooks(self, fwd: Iterable[tuple[str, HookFn]] = ()) -> Iterator[HookedAgent]:
        """Temporarily attach ``fn(activation, name)`` at hook points; a non-None return replaces the activation."""
        handles = []
        try:
            for name, fn in fwd:
                point = self._point(name)

                def wrapper(_module, _inputs, output, _fn=fn, _name=name):
                    return _fn(output, _name)

                handles.append(point.register_forward_hook(wrapper))
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def run_with_cache(
        self, obs: torch.Tensor, names: Iterable[str] | None = None, detach: bool = True, **forward_kwargs
    ) -> tuple[tuple[torch.Tensor, ...], dict[str, torch.Tensor]]:
        """Run the agent and return its output and the activations at ``names`` (default: every hook point).

        ``forward_kwargs`` go to ``forward`` (a recurrent agent's ``state``)."""
        wanted = list(self._hook_points) if names is None else list(names)
        for name in wanted:
            self._point(name)  # unknown names fail before anything runs
        cache: dict[str, torch.Tensor] = {}

        def save(act: torch.Tensor, name: str) -> None:
            cache[name] = act.detach() if detach else act

        with self.hooks([(name, save) for name in wanted]):
            out = self(obs, **forward_kwargs)
        return out, cache
