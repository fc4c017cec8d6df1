"""Labelled rollouts of an agent in a vectorized env, with activations, and a disk cache for them.

``collect`` runs the agent (one forward per step, hooks record activations on the way) and returns a
``Rollouts`` of ``[T, B, ...]`` arrays. ``cached_collect`` keeps them under
``mirl_home()/cache/rollouts/`` as one ``.npy`` per array plus ``meta.json``, memory-mapped on reuse.

Episodes are numbered in the order they *start* (ties by env index), and the first ``episodes`` of them are
kept: counting them in the order they finish would over-represent short episodes (with B envs, the first
N to end are the quick ones), which biases any success rate or label distribution computed from them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np
import torch

from mirl.paths import mirl_home

if TYPE_CHECKING:
    from mirl.envs import VecEnv
    from mirl.hooked import HookedAgent

# Bump when what ``collect`` records changes meaning: it is part of every cache key.
FORMAT_VERSION = 1
_BLOCK_BYTES = 32 << 20  # recorded arrays grow in blocks of about this size
_ONE_BLOCK_MAX_BYTES = 4 << 30  # in RAM, a capped rollout up to this size is recorded into one block
_NPY_HEADER_BYTES = 512  # fixed, so a streamed .npy gets its final shape written in place at the end
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Rollouts:
    """``T`` steps of ``B`` envs. Arrays are ``[T, B, ...]``; obs and activations may be ``np.memmap``."""

    obs: np.ndarray  # [T, B, *obs_shape] the observations the agent acted on
    actions: np.ndarray  # [T, B] int64
    logits: np.ndarray  # [T, B, A] float32
    values: np.ndarray  # [T, B] float32
    rewards: np.ndarray  # [T, B] float32
    dones: np.ndarray  # [T, B] bool: the episode ended at this step (terminated | truncated)
    starts: np.ndarray  # [T, B] bool: obs[t] is the first observation of an episode
    episode: np.ndarray  # [T, B] int64: episode index in start order; -1 beyond the requested episodes
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # [T, B, ...] env.labels() + future labels
    activations: dict[str, np.ndarray] = field(default_factory=dict)  # [T, B, *hook_shape] float16
    path: Path | None = None  # the cache folder the arrays are mapped from, if any

    def step_mask(self) -> np.ndarray:
        """[T, B] bool: True for steps that belong to one of the requested episodes."""
        return self.episode >= 0

    def flat(self, name: str) -> np.ndarray:
        """The valid steps of one array flattened to ``[N, ...]`` (in time-major order).

        ``name`` is a field (``"obs"``, ``"actions"``, ...), then an activation hook name, then a label name.
        """
        if name in _STEP_FIELDS:
            array = getattr(self, name)
        elif name in self.activations:
            array = self.activations[name]
        elif name in self.labels:
            array = self.labels[name]
        else:
            raise KeyError(
                f"no array {name!r}: fields {list(_STEP_FIELDS)}, activations {sorted(self.activations)}, "
                f"labels {sorted(self.labels)}"
            )
        return np.asarray(array[self.step_mask()])


_STEP_FIELDS = ("obs", "actions", "logits", "values", "rewards", "dones", "starts", "episode")
_MAPPED_FIELDS = ("obs",)  # besides activations: the arrays big enough to stream to disk and map on read


# ----------------------------------------------------------------------------------------------------
# Recording


class _Column:
    """One recorded array, filled a step ``[B, ...]`` at a time into blocks of about 32 MB.

    In RAM, a rollout that fits one block is returned as a view of it; longer ones are copied into one array
    at the end, each block freed as soon as it is copied (peak ≈ the final array + one block). With a path,
    one block is reused: each time it fills up it is appended to a ``.npy`` file, and the result is
    memory-mapped, so memory stays flat however long the rollout. (NumPy asks Linux for transparent huge
    pages for allocations of 4 MB or more, which makes writing to fresh blocks markedly faster.)

    In RAM, when the number of steps is capped (``max_rows``), the first block is sized to hold them all (up
    to ``_ONE_BLOCK_MAX_BYTES``): Linux maps the pages only when they are written, so the unused tail costs
    nothing, and the final copy — a tenth of a pixel agent's collection time — is skipped.
    """

    def __init__(self, dtype: Any, path: Path | None = None, max_rows: int | None = None):
        self.dtype = np.dtype(dtype)
        self.path = path
        self.max_rows = max_rows
        self.file = None
        self.blocks: list[np.ndarray | None] = []
        self.block: np.ndarray | None = None
        self.i = 0  # rows used in the current block
        self.n = 0  # rows written in total

    def append(self, x: np.ndarray | torch.Tensor) -> None:
        if self.block is None:
            self._start(tuple(x.shape))
        elif self.i == len(self.block):
            self._next_block()
        row = self.block[self.i]
        if isinstance(x, torch.Tensor):
            torch.from_numpy(row).copy_(x)  # casts (e.g. to float16) without a temporary
        else:
            row[...] = x
        self.i += 1
        self.n += 1

    def _start(self, step_shape: tuple[int, ...]) -> None:
        step_bytes = max(1, int(np.prod(step_shape)) * self.dtype.itemsize)
        rows = -(-_BLOCK_BYTES // step_bytes)
        if self.path is None and self.max_rows is not None and self.max_rows * step_bytes <= _ONE_BLOCK_MAX_BYTES:
            rows = max(rows, self.max_rows)
        self.block = np.empty((rows, *step_shape), dtype=self.dtype)
        self.blocks.append(self.block)
        if self.path is not None:
            self.file = open(self.path, "wb")
            self.file.write(b"\0" * _NPY_HEADER_BYTES)

    def _next_block(self) -> None:
        if self.file is not None:
            self.block.tofile(self.file)  # the block's rows are on disk now: reuse it
        else:
            self.block = np.empty_like(self.block)
            self.blocks.append(self.block)
        self.i = 0

    def finish(self) -> np.ndarray:
        if self.block is None:
            raise ValueError("nothing was recorded")
        shape = (self.n, *self.block.shape[1:])
        if self.file is not None:
            self.block[: self.i].tofile(self.file)
            self.file.seek(0)
            self.file.write(_npy_header(self.dtype, shape))
            self.file.close()
            self.blocks, self.block = [], None
            return np.load(self.path, mmap_mode="r")
        if len(self.blocks) == 1:
            out = self.block[: self.n]
        else:
            out = np.empty(shape, dtype=self.dtype)
            start = 0
            for k, block in enumerate(self.blocks):
                rows = min(len(block), self.n - start)
                out[start : start + rows] = block[:rows]
                start += rows
                self.blocks[k] = block = None  # free each block as soon as it is copied
        self.blocks, self.block = [], None
        return out


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """A version-1.0 ``.npy`` header padded to a fixed size (the format allows any padding)."""
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                 "shape": tuple(int(s) for s in shape)}).encode("latin1")
    padding = _NPY_HEADER_BYTES - 10 - len(text) - 1
    if padding < 0:
        raise ValueError(f"shape {shape} does not fit a {_NPY_HEADER_BYTES}-byte .npy header")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", _NPY_HEADER_BYTES - 10) + text + b" " * padding + b"\n"


def _file_name(group: str, name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"{group} name {name!r} cannot be a file name; use letters, digits, '_', '.', '-'")
    return f"{group}.{name}.npy" if group else f"{name}.npy"


def _device(agent: Any) -> torch.device:
    for p in agent.parameters():
        return p.device
    return torch.device("cpu")


def collect(
    agent: HookedAgent,
    env: VecEnv,
    episodes: int,
    hooks: Iterable[str] = (),
    seed: int = 0,
    greedy: bool = False,
    future_labels: Callable[[Rollouts], dict[str, np.ndarray]] | None = None,
    max_steps: int | None = None,
    fwd: Iterable[tuple[str, Callable]] = (),
    out_dir: Path | None = None,
) -> Rollouts:
    """Run ``agent`` in ``env`` until ``episodes`` episodes have finished, or for at most ``max_steps`` steps
    of the vectorized env (``T``).

    The env is reset with ``seed``; actions are sampled from softmax(logits) with a torch Generator seeded
    with ``seed`` (argmax if ``greedy``). Per step: observation, action, logits, value, reward, done, the
    env's labels for the state acted on, and activations at ``hooks`` (float16), recorded by hooks during
    the one forward pass. ``fwd`` are extra ``(hook, fn)`` edits applied while acting; they run before the
    recording hooks, so a recorded activation is the one the rest of the network saw. A recurrent agent's
    state is carried across steps and reset where an episode starts.

    ``future_labels(rollouts)`` adds labels that depend on later steps (see ``steps_to_episode_end``).
    With ``out_dir``, every array is written there as ``.npy`` and obs/activations are memory-mapped.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    hooks = list(dict.fromkeys(hooks))
    known = agent.hook_points()
    unknown = [h for h in hooks if h not in known]
    if unknown:
        raise KeyError(f"unknown hook point(s) {unknown}; this agent has {sorted(known)}")
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)

    def disk(group: str, name: str) -> Path | None:
        return None if out_dir is None else out_dir / _file_name(group, name)

    num_envs = env.num_envs
    # Small per-step arrays go into lists (stacked at the end); obs and activations, which can be large,
    # into _Columns. The lists hold arrays that are fresh each step, or copies.
    actions_steps, rewards_steps, dones_steps, starts_steps = [], [], [], []
    logits_steps: list[torch.Tensor] = []
    value_steps: list[torch.Tensor] = []
    label_steps: dict[str, list[np.ndarray]] = {}
    act_cols = {h: _Column(np.float16, disk("activations", h), max_steps) for h in hooks}

    def recorder(column: _Column) -> Callable:
        def record(act: torch.Tensor, _name: str) -> None:
            column.append(act)

        return record

    edits = [*fwd, *[(h, recorder(c)) for h, c in act_cols.items()]]
    device = _device(agent)
    on_cpu = device.type == "cpu"
    recurrent = getattr(agent, "recurrent", False)
    generator = torch.Generator().manual_seed(seed)
    obs, _ = env.reset(seed=seed)
    obs_col = _Column(obs.dtype, disk("", "obs"), max_steps)
    starts = np.ones(num_envs, dtype=bool)
    state = None
    # Episodes are numbered in the order they start (ties by env index). One env's episodes have increasing
    # numbers, so once every env is on an episode numbered >= `episodes`, all requested ones have finished.
    current = np.arange(num_envs)
    next_index = num_envs
    t = 0
    with torch.no_grad(), agent.hooks(edits):
        while True:
            for name, value in env.labels().items():
                label_steps.setdefault(name, []).append(np.array(value))  # a copy: it may be the env's own
            obs_col.append(obs)
            x = torch.from_numpy(obs if obs.flags.writeable else obs.copy())
            flags = torch.from_numpy(starts) if recurrent else None
            if not on_cpu:
                x, flags = x.to(device), None if flags is None else flags.to(device)
            logits, value, state = agent.act(x, state, flags)
            if greedy:
                actions = logits.argmax(-1)
            else:
                probs = torch.softmax(logits.float(), -1)
                actions = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1)
            actions = actions.numpy() if on_cpu else actions.cpu().numpy()
            obs, reward, terminated, truncated, _ = env.step(actions)
            dones = np.logical_or(terminated, truncated)
            t += 1
            logits_steps.append(logits)
            value_steps.append(value)
            actions_steps.append(actions)
            rewards_steps.append(np.array(reward, dtype=np.float32))
            dones_steps.append(dones)
            starts_steps.append(starts)
            starts = dones
            if dones.any():
                ended = np.flatnonzero(dones)
                current[ended] = next_index + np.arange(len(ended))
                next_index += len(ended)
                if next_index > episodes and current.min() >= episodes:
                    break
            if max_steps is not None and t >= max_steps:
                break

    for h, c in act_cols.items():
        if c.n != t:
            raise RuntimeError(f"hook {h} fired {c.n} times in {t} steps; only hooks firing once a step are recordable")
    arrays = {
        "actions": np.stack(actions_steps).astype(np.int64, copy=False),
        "rewards": np.stack(rewards_steps),
        "dones": np.stack(dones_steps),
        "starts": np.stack(starts_steps),
    }
    arrays["logits"] = torch.stack(logits_steps).float().cpu().numpy()
    arrays["values"] = torch.stack(value_steps).reshape(t, num_envs).float().cpu().numpy()
    arrays["episode"] = _episode_index(arrays["starts"], episodes)
    labels = {name: np.stack(steps) for name, steps in label_steps.items()}
    if out_dir is not None:  # the small arrays, written once
        for name, array in arrays.items():
            np.save(out_dir / _file_name("", name), array)
        for name, array in labels.items():
            np.save(out_dir / _file_name("labels", name), array)
    rollouts = Rollouts(
        obs=obs_col.finish(),
        **arrays,
        labels=labels,
        activations={h: col.finish() for h, col in act_cols.items()},
    )
    if future_labels is not None:
        rollouts.labels.update(future_labels(rollouts))
    return rollouts


def _episode_index(starts: np.ndarray, episodes: int) -> np.ndarray:
    """[T, B] episode numbers from the start flags: numbered in start order, -1 from number ``episodes`` on."""
    rank = np.cumsum(starts.ravel()).reshape(starts.shape) - 1  # at a start: its place in (t, b) order
    index = np.maximum.accumulate(np.where(starts, rank, -1), axis=0)  # carried forward within each env
    return np.where(index < episodes, index, -1).astype(np.int64)


def steps_to_episode_end(rollouts: Rollouts) -> dict[str, np.ndarray]:
    """``{"steps_to_episode_end": [T, B] int64}``: actions left in the episode counting this one (1 at the
    step where it ends), -1 where the episode's end lies beyond the collected steps.

    A ``future_labels`` callback: ``collect(..., future_labels=steps_to_episode_end)``.
    """
    dones = np.asarray(rollouts.dones)
    out = np.full(dones.shape, -1, dtype=np.int64)
    after = np.full(dones.shape[1:], -1, dtype=np.int64)  # value at t + 1
    for t in range(len(dones) - 1, -1, -1):
        after = np.where(dones[t], 1, np.where(after > 0, after + 1, -1))
        out[t] = after
    return {"steps_to_episode_end": out}


# ----------------------------------------------------------------------------------------------------
# Disk cache


@dataclass(frozen=True)
class RolloutKey:
    """What identifies cached rollouts besides the collection settings. ``agent_sha256`` is the checkpoint's
    full sha256, so rollouts are never reused across agent versions."""

    agent_sha256: str
    task_id: str
    seed: int
    split: str

    def __post_init__(self) -> None:
        if not _SHA256.match(self.agent_sha256):
            raise ValueError(f"agent_sha256 must be 64 lowercase hex digits, got {self.agent_sha256!r}")


def _cache_folder(root: Path, key: RolloutKey, settings: dict) -> Path:
    # The digest covers the whole key and every setting, so keys differing in any field never share a
    # folder; the readable parts only help people find their way around.
    blob = json.dumps({"key": asdict(key), "settings": settings}, sort_keys=True)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    name = f"{key.agent_sha256[:16]}-{_safe(key.split)}-seed{key.seed}-{digest}"
    return root / _safe(key.task_id.replace("/", "__")) / name


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", text)


def _load(folder: Path, key: RolloutKey, settings: dict) -> Rollouts | None:
    """The cached rollouts in ``folder``, or None unless it is complete and made for exactly this key."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta["format"] != FORMAT_VERSION or meta["key"] != asdict(key) or meta["settings"] != settings:
            return None
        loaded: dict[str, np.ndarray] = {}
        for name, info in meta["arrays"].items():
            mapped = name.startswith("activations/") or name in _MAPPED_FIELDS
            array = np.load(folder / info["file"], mmap_mode="r" if mapped else None)
            if list(array.shape) != info["shape"] or str(array.dtype) != info["dtype"]:
                return None
            loaded[name] = array
        return Rollouts(
            **{name: loaded[name] for name in _STEP_FIELDS},
            labels={n.split("/", 1)[1]: a for n, a in loaded.items() if n.startswith("labels/")},
            activations={n.split("/", 1)[1]: a for n, a in loaded.items() if n.startswith("activations/")},
            path=folder,
        )
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
        return None


def cached_collect(
    key: RolloutKey,
    agent: HookedAgent,
    env_factory: Callable[[int], VecEnv],
    episodes: int,
    hooks: Iterable[str] = (),
    *,
    num_envs: int = 64,
    greedy: bool = False,
    max_steps: int | None = None,
    future_labels: Callable[[Rollouts], dict[str, np.ndarray]] | None = None,
    root: Path | None = None,
) -> Rollouts:
    """``collect`` with seed ``key.seed``, reusing a complete cached copy made for the same key and settings.

    ``env_factory(num_envs)`` is called only when collecting. The caller vouches that ``agent`` is the
    checkpoint with ``key.agent_sha256``. Future labels are computed after loading, never stored, so
    changing the callback cannot serve stale labels. Default root: ``mirl_home()/cache/rollouts``.
    """
    hooks = sorted(set(hooks))  # order does not change what is recorded
    settings = {"format": FORMAT_VERSION, "episodes": int(episodes), "hooks": hooks, "greedy": bool(greedy),
                "max_steps": max_steps, "num_envs": int(num_envs)}
    root = Path(root) if root is not None else mirl_home() / "cache" / "rollouts"
    folder = _cache_folder(root, key, settings)
    rollouts = _load(folder, key, settings)
    if rollouts is None:
        rollouts = _collect_into(folder, key, settings, agent, env_factory)
    if future_labels is not None:
        rollouts.labels.update(future_labels(rollouts))
    return rollouts


def _collect_into(folder: Path, key: RolloutKey, settings: dict, agent: Any, env_factory: Callable) -> Rollouts:
    """Collect into a temp folder beside ``folder``, then rename it into place (a crash leaves no half folder
    under the real name)."""
    from mirl import __version__

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".tmp-{folder.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        env = env_factory(settings["num_envs"])
        if env.num_envs != settings["num_envs"]:
            raise ValueError(f"env_factory({settings['num_envs']}) made {env.num_envs} envs")
        started = time.perf_counter()
        try:
            got = collect(agent, env, settings["episodes"], settings["hooks"], seed=key.seed,
                          greedy=settings["greedy"], max_steps=settings["max_steps"], out_dir=tmp)
        finally:
            close = getattr(env, "close", None)
            if close is not None:
                close()
        arrays = {name: (_file_name("", name), getattr(got, name)) for name in _STEP_FIELDS}
        arrays |= {f"labels/{n}": (_file_name("labels", n), a) for n, a in got.labels.items()}
        arrays |= {f"activations/{n}": (_file_name("activations", n), a) for n, a in got.activations.items()}
        meta = {
            "format": FORMAT_VERSION,
            "key": asdict(key),
            "settings": settings,
            "arrays": {n: {"file": f, "shape": list(a.shape), "dtype": str(a.dtype)} for n, (f, a) in arrays.items()},
            "steps": int(got.actions.shape[0]),
            "num_envs": int(got.actions.shape[1]),
            "mirl_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "collect_seconds": round(time.perf_counter() - started, 3),
        }
        del got, arrays  # drop the maps of the temp files before they move
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")  # last: marks the folder complete
        if folder.exists():  # stale or made for another key version: move it aside, then replace it
            stale = folder.parent / f".stale-{folder.name}-{uuid.uuid4().hex[:8]}"
            os.rename(folder, stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process put a folder in place meanwhile; use it if it is good
            if _load(folder, key, settings) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rollouts = _load(folder, key, settings)
    if rollouts is None:
        raise RuntimeError(f"rollouts written to {folder} could not be read back")
    return rollouts
