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

    ``forward(obs)`` returns ``(logits, value)``.
    """

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
            raise KeyError(f"unknown hook point {name!r}; this agent has {sorted(self._hook_points)}") from None

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
        self, obs: torch.Tensor, names: Iterable[str] | None = None, detach: bool = True
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]:
        """Run the agent and return its output and the activations at ``names`` (default: every hook point)."""
        wanted = list(self._hook_points) if names is None else list(names)
        cache: dict[str, torch.Tensor] = {}

        def save(act: torch.Tensor, name: str) -> None:
            cache[name] = act.detach() if detach else act

        with self.hooks([(name, save) for name in wanted]):
            out = self(obs)
        return out, cache
