"""Interventions during rollouts: apply an ``Intervention`` answer's edits while the agent acts.

The scorers use exactly this: ``EditHooks`` turns validated edits into temporary hook functions (per hook
point, in order), optionally only at chosen steps of each episode; ``run_episodes`` plays seeded episodes in
a vectorized env with the edits applied and returns per-episode outcomes. For recurrent agents the internal
tick is part of the hook name (``core.layer0.tick1.hook_h``), so editing one tick means naming its hook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from mirl.schemas import Edit


def _broadcast(vec: torch.Tensor, ndim: int) -> torch.Tensor:
    """A per-channel vector [C] viewed to broadcast over a [B, C, ...] activation."""
    return vec.view(-1, *([1] * (ndim - 2))) if vec.ndim == 1 and ndim > 2 else vec


def _selection(edit: Edit) -> list[tuple]:
    """Index tuples (after the batch dim) of the units an edit touches."""
    channels = slice(None) if edit.channels is None else list(edit.channels)
    positions = [None] if edit.positions is None else edit.positions
    return [(slice(None),) * edit.axis + (channels,) + (() if pos is None else tuple(pos)) for pos in positions]


def apply_edit(act: torch.Tensor, edit: Edit, rows: torch.Tensor | None = None,
               rng: np.random.Generator | None = None) -> torch.Tensor:
    """Return ``act`` [B, *hook_shape] with one edit applied (to the batch ``rows`` where given)."""
    out = act.clone()
    target = out if rows is None else out[rows]
    if target.shape[0] == 0:
        return out
    if edit.op == "add":
        target = target + edit.scale * _broadcast(torch.as_tensor(edit.vector, dtype=act.dtype), act.ndim)
    elif edit.op == "project_out":
        vec = torch.as_tensor(edit.vector, dtype=act.dtype).reshape(-1)
        unit = vec / vec.norm()
        if vec.numel() == target[0].numel():
            flat = target.reshape(target.shape[0], -1)
            target = (flat - (flat @ unit).unsqueeze(1) * unit).reshape(target.shape)
        else:  # a channel direction, removed at every position
            moved = target.movedim(1, -1)
            target = (moved - (moved @ unit).unsqueeze(-1) * unit).movedim(-1, 1)
    elif edit.op == "set":
        for index in _selection(edit):
            target[(slice(None),) + index] = float(edit.value)
    elif edit.op in ("patch", "mean_ablate"):
        source = torch.as_tensor(edit.vector, dtype=act.dtype)
        for index in _selection(edit):
            target[(slice(None),) + index] = source[index]
    elif edit.op == "resample_ablate":
        sources = torch.as_tensor(edit.vector, dtype=act.dtype)  # [K, *hook_shape]
        generator = rng if rng is not None else np.random.default_rng(0)
        picks = torch.from_numpy(generator.integers(0, sources.shape[0], size=target.shape[0]))
        drawn = sources[picks]
        for index in _selection(edit):
            target[(slice(None),) + index] = drawn[(slice(None),) + index]
    else:  # the schema's Literal keeps this unreachable
        raise ValueError(f"unknown edit op {edit.op!r}")
    if rows is None:
        return target
    out[rows] = target
    return out


class EditHooks:
    """Hook functions for a list of edits; ``episode_steps`` (set before each forward) selects the batch rows
    that edits restricted to ``steps`` apply to."""

    def __init__(self, edits: list[Edit], seed: int = 0):
        self.edits = list(edits)
        self.rng = np.random.default_rng(seed)  # resample-ablation draws
        self.episode_steps: np.ndarray | None = None
        # Per edit: the summed L2 norm of the change it made and the number of (env, step) rows it applied to,
        # so a scorer can build a random edit of the same size as a control.
        self._change_sums = np.zeros(len(self.edits))
        self._change_rows = np.zeros(len(self.edits), dtype=np.int64)

    def edit_sizes(self) -> list[float]:
        """Each edit's mean L2 norm of change per activation it applied to (0 if it never applied)."""
        return [float(total / rows) if rows else 0.0 for total, rows in zip(self._change_sums, self._change_rows)]

    def _rows(self, edit: Edit) -> torch.Tensor | None:
        if edit.steps is None:
            return None
        if self.episode_steps is None:
            raise ValueError("edits restricted to steps need episode_steps set before each forward")
        return torch.from_numpy(np.isin(self.episode_steps, edit.steps))

    def fwd(self) -> list[tuple[str, Callable]]:
        """(hook name, fn) pairs for ``agent.hooks(...)``: one function per hook point, edits in order."""
        by_hook: dict[str, list[int]] = {}
        for i, edit in enumerate(self.edits):
            by_hook.setdefault(edit.hook, []).append(i)

        def make(indices: list[int]) -> Callable:
            def fn(act: torch.Tensor, name: str) -> torch.Tensor:
                for i in indices:
                    rows = self._rows(self.edits[i])
                    edited = apply_edit(act, self.edits[i], rows, self.rng)
                    change = (edited - act).flatten(1).norm(dim=1)
                    self._change_sums[i] += float((change if rows is None else change[rows]).sum())
                    self._change_rows[i] += act.shape[0] if rows is None else int(rows.sum())
                    act = edited
                return act

            return fn

        return [(hook, make(edits)) for hook, edits in by_hook.items()]


def random_edits_like(edits: list[Edit], sizes: list[float], hook_shapes: dict[str, list[int]],
                      rng: np.random.Generator) -> list[Edit]:
    """A size-matched random control for ``edits``: per edit, an ``add`` of a uniformly random direction over the
    hook's full shape with norm ``sizes[i]`` (the change that edit actually made), at the same steps.

    Any large enough perturbation shifts behaviour, so an edit's effect only means something against what a
    random edit of the same size does."""
    control = []
    for edit, size in zip(edits, sizes):
        if size <= 0:
            continue
        direction = rng.normal(size=hook_shapes[edit.hook])
        control.append(Edit(hook=edit.hook, op="add", vector=direction * (size / np.linalg.norm(direction)),
                            steps=edit.steps))
    return control


CONTROL_DIRECTIONS = 4  # random directions pooled into one control: single directions differ a lot


def random_edit_controls(edits: list[Edit], sizes: list[float], hook_shapes: dict[str, list[int]], seed: int,
                         directions: int = CONTROL_DIRECTIONS) -> list[list[Edit]]:
    """``directions`` independent ``random_edits_like`` controls for ``edits``, drawn from ``seed``; none if the
    edits changed nothing (then the unedited agent is the control). What intervention scorers use as the floor."""
    from mirl.seeding import derive_seed

    if not any(size > 0 for size in sizes):
        return []
    rng = np.random.default_rng(derive_seed(seed, "random-edit-control"))
    return [random_edits_like(list(edits), list(sizes), hook_shapes, rng) for _ in range(directions)]


@dataclass
class EpisodeOutcomes:
    """Per-episode results of ``run_episodes``, indexed by episode in start order."""

    returns: np.ndarray
    lengths: np.ndarray
    terminated: np.ndarray
    final_labels: dict[str, np.ndarray] = field(default_factory=dict)
    """``env.labels()`` at each episode's last acting step."""
    final_info: dict[str, np.ndarray] = field(default_factory=dict)
    """The step ``info`` arrays (e.g. an outcome class) at the step each episode ended."""
    first_labels: dict[str, np.ndarray] = field(default_factory=dict)
    """``env.labels()`` at each episode's first step."""
    summaries: dict[str, np.ndarray] = field(default_factory=dict)
    """Per hook in ``summarise``: the mean activation [episodes, *hook_shape] (float32) over each episode's first
    ``summary_steps`` steps (all of them if it is shorter), as the rest of the network saw it (after edits)."""
    edit_sizes: list[float] = field(default_factory=list)
    """Per edit: the mean L2 norm of the change it made to one activation (``EditHooks.edit_sizes``)."""


@torch.no_grad()
def run_episodes(
    agent: Any, env: Any, episodes: int, edits: list[Edit] = (), seed: int = 0, greedy: bool = True,
    max_steps: int = 100_000, summarise: Any = (), summary_steps: int = 1, record_labels: bool = True,
) -> EpisodeOutcomes:
    """Play ``episodes`` seeded episodes with ``edits`` applied at every forward pass (or at their steps).

    Episodes are numbered in the order they start (ties by env index) and the first ``episodes`` are kept,
    as in ``mirl.rollouts.collect``: keeping the first to *finish* would over-represent short episodes.
    ``summarise`` names hook points whose activations are averaged over each episode's first
    ``summary_steps`` steps (what a predictor of the episode's outcome may look at).
    ``record_labels=False`` leaves ``first_labels`` and ``final_labels`` empty and never calls ``env.labels()``:
    for scorers that need only the step info, since reading labels can cost as much as the agent's forward pass
    (CoinRun reads every env's serialized state).
    """
    if summary_steps < 1:
        raise ValueError(f"summary_steps must be at least 1, got {summary_steps}")
    hooks = EditHooks(list(edits), seed=seed)
    summarise = list(dict.fromkeys(summarise))
    known = agent.hook_points() if summarise else {}
    unknown = [h for h in summarise if h not in known]
    if unknown:
        raise KeyError(f"unknown hook point(s) {unknown}; this agent has {sorted(known)}")
    generator = torch.Generator().manual_seed(seed)
    obs, _ = env.reset(seed=seed)
    n = env.num_envs
    state = agent.initial_state(n) if getattr(agent, "recurrent", False) else None
    starts = np.ones(n, dtype=bool)
    index = np.arange(n)  # the episode each env is playing
    next_index = n
    episode_steps = np.zeros(n, dtype=np.int64)
    running = np.zeros(n)
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    terminated_at = np.zeros(episodes, dtype=bool)
    finished = np.zeros(episodes, dtype=bool)
    finals: list[dict] = [{} for _ in range(episodes)]
    firsts: list[dict] = [{} for _ in range(episodes)]
    sums = {h: torch.zeros((n, *known[h])) for h in summarise}  # per env: the running sum this episode
    summaries = {h: np.zeros((episodes, *known[h]), dtype=np.float32) for h in summarise}

    def recorder(hook: str):
        def record(act: torch.Tensor, _name: str) -> None:
            rows = torch.from_numpy(episode_steps < summary_steps)
            sums[hook][rows] += act.detach().float()[rows]

        return record

    with agent.hooks([*hooks.fwd(), *((h, recorder(h)) for h in summarise)]):
        for _ in range(max_steps):
            labels = env.labels() if record_labels else {}
            for i in np.flatnonzero(starts):
                if index[i] < episodes:
                    firsts[index[i]] = {key: v[i] for key, v in labels.items()}
            hooks.episode_steps = episode_steps
            logits, _, state = agent.act(torch.from_numpy(obs), state, torch.from_numpy(starts))
            if greedy:
                actions = logits.argmax(-1)
            else:
                actions = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(1)
            obs, reward, terminated, truncated, info = env.step(actions.numpy())
            running += reward
            episode_steps += 1
            done = np.asarray(terminated) | np.asarray(truncated)
            for i in np.flatnonzero(done):
                k = index[i]
                if k < episodes:
                    returns[k], lengths[k], terminated_at[k], finished[k] = running[i], episode_steps[i], terminated[i], True
                    finals[k] = {"labels": {key: v[i] for key, v in labels.items()},
                                 "info": {key: v[i] for key, v in info.items() if isinstance(v, np.ndarray)}}
                    for h in summarise:
                        summaries[h][k] = (sums[h][i] / min(int(episode_steps[i]), summary_steps)).numpy()
                for h in summarise:
                    sums[h][i] = 0.0
                index[i] = next_index
                next_index += 1
            running[done] = 0.0
            episode_steps[done] = 0
            starts = done
            if finished.all():
                break
    if not finished.all():
        raise RuntimeError(f"only {int(finished.sum())} of {episodes} episodes ended within {max_steps} steps")

    def stack(part: str) -> dict[str, np.ndarray]:
        return {key: np.array([f[part][key] for f in finals]) for key in finals[0].get(part, {})}

    first = {key: np.array([f[key] for f in firsts]) for key in firsts[0]}
    return EpisodeOutcomes(returns, lengths, terminated_at, stack("labels"), stack("info"), first, summaries,
                           hooks.edit_sizes())
