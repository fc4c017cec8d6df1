"""Train a Sokoban agent within a wall-clock budget: measure this machine's speed, size the run to fit, train.

    python -m mirl.tasks.sokoban.train_budget --agent sokoban-drc --seconds 450 --device cuda --out DIR

PPO anneals its learning rate over ``total_steps``, so a run that is simply cut off never finishes its
schedule. This measures steps/s with a short throwaway run, sets ``total_steps`` to what the rest of the budget
allows (whole updates), and trains that run to its end. ``--out`` receives the run's files in a few large
files (the device tool brings back at most 8): ``<agent>-state.pt``, ``<agent>-snapshots.pt`` (float16 weight
snapshots by step), ``<agent>-config.json`` and the log. ``--unpack`` turns those back into a run folder that
``mirl agents ship sokoban`` reads. Imports only torch, numpy and mirl's training core (no CLI, no W&B).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import torch

from mirl.ppo import SNAPSHOT_DIR, STATE_FILE, load_state, train

from .agent import spec_drc, spec_ff

SPECS = {"sokoban-drc": spec_drc, "sokoban-ff": spec_ff}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", choices=sorted(SPECS), required=True)
    parser.add_argument("--seconds", type=float, help="wall-clock budget for measuring and training")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, help="where the packed run files go")
    parser.add_argument("--run-dir", type=Path, help="the run folder (default: a temporary one under --out)")
    parser.add_argument("--config", help="JSON object of PPO settings to override")
    parser.add_argument("--measure-seconds", type=float, default=25.0)
    parser.add_argument("--unpack", type=Path, help="unpack packed files from this folder into --run-dir and stop")
    parser.add_argument("--keep-steps", action="store_true",
                        help="keep the config's total_steps: train for --seconds, then stop (resumable anywhere)")
    args = parser.parse_args(argv)
    spec = SPECS[args.agent]()
    if args.unpack:
        unpack(args.unpack, args.agent, args.run_dir)
        return 0
    if args.device.startswith("cuda"):
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    config = dataclasses.replace(spec.config, **json.loads(args.config or "{}"))
    run_dir = args.run_dir or args.out / f"{args.agent}-run"
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    log_file = open(args.out / f"{args.agent}.log", "a") if args.out else None

    def log(line: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {line}"
        print(line, file=sys.stderr, flush=True)
        if log_file:
            print(line, file=log_file, flush=True)

    if args.keep_steps:
        train(config, lambda: spec.make_agent(config.seed), spec.make_env, run_dir, log=log, device=args.device,
              stop_after_seconds=args.seconds, resume=(run_dir / STATE_FILE).exists())
        if args.out:
            pack(run_dir, args.out, args.agent)
        return 0
    started = time.monotonic()
    probe_dir = run_dir.with_name(run_dir.name + "-measure")
    shutil.rmtree(probe_dir, ignore_errors=True)
    train(config, lambda: spec.make_agent(config.seed), spec.make_env, probe_dir, log=log, device=args.device,
          stop_after_seconds=args.measure_seconds)
    probe = load_state(probe_dir / STATE_FILE)["training"]
    sps = probe.global_step / probe.wall_seconds
    shutil.rmtree(probe_dir, ignore_errors=True)
    left = args.seconds - (time.monotonic() - started) - 20.0  # setup and packing
    updates = max(1, int(sps * left / config.batch_size))
    config = dataclasses.replace(config, total_steps=updates * config.batch_size)
    log(f"measured {sps:,.0f} steps/s on {args.device}; training {config.total_steps:,} steps ({updates} updates)")
    train(config, lambda: spec.make_agent(config.seed), spec.make_env, run_dir, log=log, device=args.device,
          stop_after_seconds=left + 30.0)
    if args.out:
        pack(run_dir, args.out, args.agent)
    log("done")
    return 0


def pack(run_dir: Path, out: Path, name: str) -> None:
    shutil.copy(run_dir / STATE_FILE, out / f"{name}-state.pt")
    shutil.copy(run_dir / "config.json", out / f"{name}-config.json")
    snapshots = {}
    for path in sorted((run_dir / SNAPSHOT_DIR).glob("step*.pt")):
        weights = torch.load(path, map_location="cpu", weights_only=True)
        snapshots[path.name] = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    torch.save(snapshots, out / f"{name}-snapshots.pt")


def unpack(packed: Path, name: str, run_dir: Path) -> None:
    (run_dir / SNAPSHOT_DIR).mkdir(parents=True, exist_ok=True)
    shutil.copy(packed / f"{name}-state.pt", run_dir / STATE_FILE)
    shutil.copy(packed / f"{name}-config.json", run_dir / "config.json")
    for file, weights in torch.load(packed / f"{name}-snapshots.pt", map_location="cpu", weights_only=True).items():
        torch.save({k: v.float() if v.is_floating_point() else v for k, v in weights.items()},
                   run_dir / SNAPSHOT_DIR / file)


if __name__ == "__main__":
    raise SystemExit(main())
