"""Offline training of transformer agents (``mirl.transformer.TransformerAgent``) on recorded sequences: the
cross-entropy of the action logits at every position against the action the data took there. Algorithm
distillation trains on a source algorithm's learning histories this way; a decision transformer on
return-conditioned trajectories.

AdamW with a linear warm-up and cosine decay; weight snapshots spread over training in ``run_dir/checkpoints``
(as ``mirl.ppo`` keeps them, for training-dynamics studies); the whole state — weights, optimiser, schedule,
batch sampler — in ``run_dir/state.pt``, so a stopped run resumes to the same bytes. Deterministic for a seed on
one CPU and torch build.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mirl.ppo import SNAPSHOT_DIR
from mirl.trainers import TrainedRun, config_from_dict, load_run_state

IGNORE = -1  # an action target that is not trained on (padding, or a position with no decision)


@dataclass
class SequenceConfig:
    """Settings of one offline run; the agent's card records the exact values used."""

    total_steps: int = 3000
    """Gradient steps, each on ``batch`` sequences."""
    batch: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    max_grad_norm: float = 1.0
    seed: int = 0
    checkpoints: int = 10
    """Weight snapshots kept, evenly spread (the last step included)."""
    save_every_seconds: float = 60.0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SequenceConfig:
        return config_from_dict(cls, values, "offline-training")


@dataclass
class SequenceData:
    """``tokens`` [N, T] int64 contexts; ``actions`` [N, T] int64: the index (into the agent's ``action_tokens``)
    of the action taken at each position, or ``IGNORE``."""

    tokens: np.ndarray
    actions: np.ndarray

    def __post_init__(self) -> None:
        if self.tokens.shape != self.actions.shape or self.tokens.ndim != 2:
            raise ValueError(f"tokens {list(self.tokens.shape)} and actions {list(self.actions.shape)} must both "
                             "be [sequences, positions]")


def position_logits(agent, tokens):
    """[B, T, actions]: the agent's action logits at every position of ``tokens`` [B, T]."""
    return agent.model(tokens.long())[..., agent.action_tokens]


def learning_rate(config: SequenceConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.total_steps - config.warmup_steps)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train_sequences(config: SequenceConfig, make_agent: Callable[[], Any], data: SequenceData, run_dir: Path,
                    resume: bool = False, log: Callable[[str], None] = print,
                    stop_after_steps: int | None = None) -> TrainedRun:
    """Train ``make_agent()`` on ``data`` (or resume ``run_dir``'s run of the same settings)."""
    import torch

    run_dir = Path(run_dir)
    (run_dir / SNAPSHOT_DIR).mkdir(parents=True, exist_ok=True)
    state_path = run_dir / "state.pt"
    torch.manual_seed(config.seed)
    agent = make_agent()
    optimizer = torch.optim.AdamW(agent.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    step, wall, losses = 0, 0.0, {}
    if resume:
        saved = load_run_state(state_path, config, "offline-training")
        agent.load_state_dict(saved["agent"])
        optimizer.load_state_dict(saved["optimizer"])
        rng.bit_generator.state = saved["numpy_generator"]
        torch.set_rng_state(saved["torch_generator"])
        step, wall, losses = saved["step"], saved["wall_seconds"], saved["losses"]
        log(f"resumed {run_dir} at step {step} of {config.total_steps}")
    started = time.perf_counter() - wall
    last_save = time.perf_counter()
    snapshot_at = set(np.linspace(0, config.total_steps, config.checkpoints + 1).round().astype(int)[1:].tolist())

    def save() -> None:
        tmp = state_path.with_suffix(".tmp")
        torch.save({"config": dataclasses.asdict(config), "agent": agent.state_dict(),
                    "optimizer": optimizer.state_dict(), "numpy_generator": rng.bit_generator.state,
                    "torch_generator": torch.get_rng_state(), "step": step,
                    "wall_seconds": time.perf_counter() - started, "losses": losses}, tmp)
        tmp.replace(state_path)

    tokens = torch.from_numpy(np.ascontiguousarray(data.tokens, dtype=np.int64))
    actions = torch.from_numpy(np.ascontiguousarray(data.actions, dtype=np.int64))
    stop = config.total_steps if stop_after_steps is None else min(config.total_steps, step + stop_after_steps)
    agent.train()
    while step < stop:
        rows = torch.from_numpy(rng.integers(0, len(tokens), size=config.batch))
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        logits = position_logits(agent, tokens[rows])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), actions[rows].reshape(-1),
                                                 ignore_index=IGNORE)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
        optimizer.step()
        step += 1
        losses = {"action_ce": loss.item()}
        if step % 100 == 0 or step == config.total_steps:
            log(f"step {step}/{config.total_steps} action_ce {losses['action_ce']:.4f}")
        if step in snapshot_at:
            snapshot = run_dir / SNAPSHOT_DIR / f"step{step:010d}.pt"
            torch.save(agent.state_dict(), snapshot.with_suffix(".tmp"))
            snapshot.with_suffix(".tmp").replace(snapshot)
        if time.perf_counter() - last_save > config.save_every_seconds:
            save()
            last_save = time.perf_counter()
    save()
    agent.eval()
    return TrainedRun(agent, step, time.perf_counter() - started, step >= config.total_steps, losses)
