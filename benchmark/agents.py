"""The agent zoo: how each shipped agent is built, trained, evaluated, hashed and described by its card.

Families register ``AgentSpec``s through the ``register_agents`` hook. A spec knows how to build the module
(``build``), make a fresh trainable agent (``make_agent(seed)``: the module plus any planted parts), the
environments it trains on, its PPO settings, and how to measure the facts its card reports (``evaluate``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mirl.errors import MirlError

MAX_CHECKPOINT_BYTES = 5 * 1024 * 1024


@dataclass
class AgentSpec:
    id: str
    family: str
    folder: Path
    """The family's folder, holding ``checkpoint`` and ``card``."""
    checkpoint: str
    card: str
    build: Callable[[], Any]
    """The module, untrained (the checkpoint's state dict loads into it)."""
    make_agent: Callable[[int], Any]
    """A fresh trainable agent for a seed (planted parts written in)."""
    make_env: Callable[[int, int], Any]
    """Training environments: (num_envs, seed) → a mirl vectorized env."""
    config: Any
    """The PPOConfig the shipped agent was trained with."""
    evaluate: Callable[[Any], dict] | None = None
    """Card facts measured on a trained agent: {"metrics": {...}, "behavioural_facts": [...]}. A family's card
    module measures them with its tasks' help, so it is attached where the family registers its agents (the
    agent module imports nothing of the tasks, which import it)."""
    architecture: str = ""
    notes: list[str] = field(default_factory=list)
    ship_snapshots: int = 10
    """Training snapshots shipped beside the checkpoint (0 for zoo agents, which ship their final weights only)."""
    trainer: Callable[..., Any] | None = None
    """For agents not trained by PPO: ``trainer(config, make_agent, run_dir, resume, log)`` → a
    ``mirl.trainers.TrainedRun``; ``config`` is then of that trainer's config class (with ``from_dict``,
    ``total_steps`` and ``seed``). Weight snapshots it keeps in ``run_dir/checkpoints`` ship as PPO's do."""
    training: str = "PPO (mirl.ppo)"
    """How the agent is trained, for its card."""

    @property
    def checkpoint_path(self) -> Path:
        return self.folder / self.checkpoint

    @property
    def card_path(self) -> Path:
        return self.folder / self.card

    def card_facts(self, agent: Any) -> dict:
        """``evaluate(agent)``, or a one-line error where this spec came without it."""
        if self.evaluate is None:
            raise MirlError(f"agent {self.id} has no card measure here; use the spec its family registers "
                            "(mirl.pluginhost.get_agents()), which carries the family's card.evaluate")
        return self.evaluate(agent)

    def read_card(self) -> dict:
        try:
            return json.loads(self.card_path.read_text())
        except FileNotFoundError:
            raise MirlError(f"agent {self.id} has no card at {self.card_path}; run `mirl agents train {self.family} --ship`") from None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# CPU features that pick torch's float kernels (vector width, fused multiply-add, AVX-512 and AMX paths): two
# machines that differ in one of them can train to different bytes from the same seed.
KERNEL_CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw", "avx512vl",
                    "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")
CPU_NOT_RECORDED = "not recorded (trained before cards named the CPU)"


def cpu_fingerprint() -> dict:
    """What decides the bytes a training run produces on this CPU: its model name (``/proc/cpuinfo``), the vector
    instruction set torch dispatches to, and the kernel-relevant CPU flags (a VM's model name alone, e.g.
    "Intel(R) Xeon(R) Processor", does not tell generations apart)."""
    import torch

    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    return {"model": model, "torch_capability": torch.backends.cpu.get_cpu_capability(),
            "flags": [flag for flag in KERNEL_CPU_FLAGS if flag in flags]}


def reproduces_bytes_here(card: dict) -> bool:
    """Whether retraining this card's agent here should give its bytes: same CPU fingerprint and torch build.
    Training is deterministic for one CPU and build; float kernels differ between CPUs."""
    import torch

    return card.get("cpu") == cpu_fingerprint() and card.get("torch") == torch.__version__


def write_checkpoint_and_card(
    spec: AgentSpec, agent: Any, config: Any, out_dir: Path, wall_seconds: float, steps: int,
    notes: list[str] = (), training_checkpoints: list[dict] = (),
) -> dict:
    """Save the weights and a card describing them into ``out_dir``; returns the card. ``notes`` are added to
    the spec's own (e.g. that the agent is an interim snapshot of an unfinished run)."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / spec.checkpoint
    torch.save(agent.state_dict(), path)
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise MirlError(f"checkpoint {path} is {size / 1e6:.1f} MB; shipped agents must stay under 5 MB")
    facts = spec.card_facts(agent)
    card = {
        "id": spec.id,
        "family": spec.family,
        "architecture": spec.architecture or type(agent).__name__,
        "parameters": sum(p.numel() for p in agent.parameters()),
        "trained_parameters": sum(p.numel() for p in agent.parameters() if p.requires_grad),
        "hook_points": {k: list(v) for k, v in agent.hook_points().items()},
        "training": spec.training,
        "config": dataclasses.asdict(config),
        "seed": config.seed,
        "steps": steps,
        "wall_seconds": round(wall_seconds, 1),
        "hardware": f"{platform.machine()} CPU × {os.cpu_count()} ({platform.platform()})",
        "cpu": cpu_fingerprint(),  # retraining gives these bytes on this CPU and torch build (reproduces_bytes_here)
        "torch": torch.__version__,
        "created": time.strftime("%Y-%m-%d"),
        "checkpoint": spec.checkpoint,
        "sha256": sha256_file(path),
        "bytes": size,
        **facts,
        "notes": [*notes, *spec.notes],
        **({"training_checkpoints": list(training_checkpoints)} if training_checkpoints else {}),
    }
    (out_dir / spec.card).write_text(json.dumps(card, indent=2) + "\n")
    return card


def training_checkpoints_dir(spec: AgentSpec) -> Path:
    """Where a shipped agent's training checkpoints live: ``<family>/<agent id>-checkpoints/``."""
    return spec.folder / f"{spec.id}-checkpoints"


def ship_training_checkpoints(spec: AgentSpec, snapshot_dir: Path, keep: int = 10) -> list[dict]:
    """Copy up to ``keep`` of a run's weight snapshots (evenly spread, the last one included) into the family
    folder as float16 state dicts (half the bytes; for training-dynamics studies, not for scoring).
    Returns their card entries: step, file, sha256."""
    import torch

    snapshots = sorted(snapshot_dir.glob("step*.pt"))
    if len(snapshots) > keep:
        picks = np.unique(np.linspace(0, len(snapshots) - 1, keep).round().astype(int))
        snapshots = [snapshots[i] for i in picks]
    out = training_checkpoints_dir(spec)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("step*.pt"):
        old.unlink()
    entries = []
    for path in snapshots:
        weights = torch.load(path, map_location="cpu", weights_only=True)
        half = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
        target = out / path.name
        torch.save(half, target)
        entries.append({"step": int(path.stem.removeprefix("step")), "file": f"{out.name}/{path.name}",
                        "sha256": sha256_file(target)})
    return entries


def load_training_checkpoint(spec: AgentSpec, step: int) -> Any:
    """The agent at a shipped training checkpoint (float16 weights cast back to float32), in eval mode."""
    import torch

    entries = {e["step"]: e for e in spec.read_card().get("training_checkpoints", [])}
    if step not in entries:
        raise MirlError(f"{spec.id} ships no training checkpoint at step {step}; it has {sorted(entries)}")
    path = spec.folder / entries[step]["file"]
    if sha256_file(path) != entries[step]["sha256"]:
        raise MirlError(f"{path.name}'s sha256 differs from {spec.id}'s card; restore the shipped file")
    agent = spec.build()
    weights = torch.load(path, map_location="cpu", weights_only=True)
    agent.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights.items()})
    return agent.eval()


def verify(spec: AgentSpec, pinned: dict[str, str]) -> list[str]:
    """Problems with a shipped agent: missing files, or a checkpoint whose sha256 differs from its card or
    from what a task pins (``pinned``: task id → sha256). Empty when all is well."""
    if not spec.checkpoint_path.exists():
        return [f"{spec.id}: checkpoint {spec.checkpoint_path} is missing"]
    actual = sha256_file(spec.checkpoint_path)
    problems = []
    card_sha = spec.read_card().get("sha256")
    if card_sha != actual:
        problems.append(f"{spec.id}: checkpoint sha256 {actual[:12]}… differs from its card's {str(card_sha)[:12]}…")
    for task_id, sha in sorted(pinned.items()):
        if sha != actual:
            problems.append(f"{spec.id}: checkpoint sha256 {actual[:12]}… differs from the {sha[:12]}… pinned by {task_id}")
    return problems
