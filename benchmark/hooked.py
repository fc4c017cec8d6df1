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
    """An identity module marking a named activation; ``shape`` is the per-example shape (no batch dim).

    Temporary hooks live in ``self.fns`` and are called by ``forward`` itself rather than through torch's
    ``register_forward_hook``: register + torch's hooked call path + remove cost about 4.5 µs per hook point
    per call, this list about 1.5 µs (CPU, torch 2.13). Small next to one forward pass, but a DRC(3, 3) cached
    at all 23 of its hook points pays it 23 times per env step (tests/benchmarks/test_hook_overhead.py).
    """

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.name = ""  # filled in by HookedAgent.setup_hooks()
        self.fns: list[HookFn] = []  # only ever non-empty inside HookedAgent.hooks()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fn in self.fns:
            out = fn(x, self.name)
            if out is not None:
                x = out
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
        elif starts is not None:
            state = self.reset_rows(state, starts)
        return self(obs, state)

    def reset_rows(self, state: tuple[torch.Tensor, ...], starts: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``state`` with the rows of envs whose episode starts (``starts`` [B] bool) set to the initial state."""
        if not bool(starts.any()):
            return state
        fresh = self.initial_state(starts.shape[0])
        keep = ~starts.bool()
        return tuple(torch.where(keep.view(-1, *([1] * (s.ndim - 1))), s, f) for s, f in zip(state, fresh))

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
        """Temporarily attach ``fn(activation, name)`` at hook points; a non-None return replaces the activation.

        Several hooks at one point run in the order given, each seeing the previous one's replacement."""
        attached: list[tuple[HookPoint, HookFn]] = []
        try:
            for name, fn in fwd:
                point = self._point(name)
                point.fns.append(fn)
                attached.append((point, fn))
            yield self
        finally:
            for point, fn in reversed(attached):
                # Remove this registration by identity (not ==), so that the same fn given twice is removed twice.
                for i in range(len(point.fns) - 1, -1, -1):
                    if point.fns[i] is fn:
                        del point.fns[i]
                        break

    def active_hooks(self) -> int:
        """How many temporary hooks are attached right now (0 outside every ``hooks()`` context)."""
        return sum(len(point.fns) for point in self._hook_points.values())

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
