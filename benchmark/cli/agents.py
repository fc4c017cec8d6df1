"""`mirl agents list|verify|train`: the shipped agents, their hashes, and reproducing them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mirl.errors import MirlError
from mirl.paths import mirl_home
from mirl.pluginhost import get_agents, get_tasks


def _pinned_by_tasks() -> dict[str, dict[str, str]]:
    """agent id → {task id: sha256 the task pins}."""
    pinned: dict[str, dict[str, str]] = {}
    for task in get_tasks():
        for ref in [task.spec.agent, *task.spec.agents]:  # agent_predictions tasks pin a whole set
            pinned.setdefault(ref.id, {})[task.spec.id] = ref.sha256
    return pinned


def list_agents(args) -> int:
    entries = []
    for spec in get_agents():
        shipped = spec.card_path.exists()
        card = spec.read_card() if shipped else {}
        entries.append({
            "id": spec.id, "family": spec.family, "shipped": shipped, "sha256": card.get("sha256"),
            "parameters": card.get("parameters"), "steps": card.get("steps"),
            "metrics": card.get("metrics", {}), "checkpoint": str(spec.checkpoint_path),
        })
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for e in entries:
        if not e["shipped"]:
            print(f"{e['id']:<16} {e['family']:<10} not shipped yet (`mirl agents train {e['family']}`)")
            continue
        metrics = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in e["metrics"].items())
        print(f"{e['id']:<16} {e['family']:<10} {e['sha256'][:12]}  {e['parameters']:>9,} params  "
              f"{e['steps']:>10,} steps  {metrics}")
    return 0


def verify_agents(args) -> int:
    from mirl.agents import verify

    pinned = _pinned_by_tasks()
    problems = []
    for spec in get_agents():
        if not spec.card_path.exists() and not spec.checkpoint_path.exists() and spec.id not in pinned:
            print(f"--  {spec.id}  not shipped yet; no task uses it")
            continue
        found = verify(spec, pinned.get(spec.id, {}))
        problems += found
        if not found:
            print(f"ok  {spec.id}  {spec.read_card()['sha256']}")
    for problem in problems:
        print(f"mirl: error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _config(spec, args):
    values = dict(vars(spec.config))
    if args.config:
        text = Path(args.config).read_text() if Path(args.config).exists() else args.config
        try:
            values.update(json.loads(text))
        except json.JSONDecodeError as exc:
            raise MirlError(f"--config must be a JSON object or a JSON file ({exc})") from None
    if args.steps is not None:
        values["total_steps"] = args.steps
    if args.seed is not None:
        values["seed"] = args.seed
    return type(spec.config).from_dict(values)


def check_ship_folder(spec) -> None:
    """Shipping writes into the family's package folder: refuse one pip installed (a copy that the next install
    replaces), saying where to ship instead."""
    if {"site-packages", "dist-packages"} & set(spec.folder.parts):
        raise MirlError(f"family {spec.family!r} is installed at {spec.folder}, a copy that the next pip install "
                        "replaces; ship from its source tree (pip install -e PATH-TO-THE-FAMILY, then --ship), or "
                        "train without --ship: the final checkpoint and card go to the run folder's final/")


def train_agents(args) -> int:
    from mirl.agents import ship_training_checkpoints, write_checkpoint_and_card
    from mirl.ppo import SNAPSHOT_DIR, train

    specs = [s for s in get_agents() if s.family == args.family and (args.agent is None or s.id == args.agent)]
    if not specs:
        families = sorted({s.family for s in get_agents()})
        raise MirlError(f"no agent to train for family {args.family!r}; families with agents: {families}")
    for spec in specs if args.ship else ():
        check_ship_folder(spec)  # before hours of training, not after
    for spec in specs:
        config = _config(spec, args)
        run_dir = Path(args.run_dir) if args.run_dir else mirl_home() / "runs" / f"{spec.id}-seed{config.seed}"
        print(f"training {spec.id} in {run_dir} ({config.total_steps:,} steps)", file=sys.stderr)
        if spec.trainer is not None:
            run = spec.trainer(config, lambda: spec.make_agent(config.seed), run_dir, args.resume,
                               lambda line: print(line, file=sys.stderr))
            if run.finished:
                # a trainer that keeps weight snapshots (mirl.offline) has them shipped as PPO's are
                snapshots = (ship_training_checkpoints(spec, run_dir / SNAPSHOT_DIR, spec.ship_snapshots)
                             if args.ship and spec.ship_snapshots and (run_dir / SNAPSHOT_DIR).is_dir() else [])
                card = write_checkpoint_and_card(spec, run.agent, config, spec.folder if args.ship else run_dir / "final",
                                                 run.wall_seconds, run.step, (), snapshots)
                _report_shipped(spec, card, args.ship)
            continue
        wandb_run = None
        if args.wandb:
            import dataclasses

            from mirl.leaderboards.wandb_sink import start_training_run
            from mirl.paths import wandb_root

            wandb_run = start_training_run(
                wandb_root(), f"{spec.id}-seed{config.seed}-{time.strftime('%Y%m%d-%H%M%S')}",
                dataclasses.asdict(config),
            )
        try:
            agent = train(
                config, lambda: spec.make_agent(config.seed), spec.make_env, run_dir, resume=args.resume,
                progress=sys.stderr.isatty() or args.progress, log=lambda line: print(line, file=sys.stderr),
                wandb_run=wandb_run,
            )
        finally:
            if wandb_run is not None:
                wandb_run.finish()
        from mirl.ppo import load_state

        state = load_state(run_dir / "state.pt")["training"]
        if state.update < config.num_updates:
            continue  # stopped early; `--resume` carries on
        out = spec.folder if args.ship else run_dir / "final"
        snapshots = (ship_training_checkpoints(spec, run_dir / SNAPSHOT_DIR, spec.ship_snapshots)
                     if args.ship and spec.ship_snapshots else [])
        card = write_checkpoint_and_card(spec, agent, config, out, state.wall_seconds, state.global_step, (),
                                         snapshots)
        _report_shipped(spec, card, args.ship)
    return 0


def _report_shipped(spec, card: dict, shipped: bool) -> None:
    print(json.dumps({k: card[k] for k in ("id", "sha256", "steps", "wall_seconds", "metrics")}, indent=2))
    if not shipped:
        return
    from mirl.pins import PINS_FILE, write_pin

    try:
        new = write_pin(spec.folder, spec.id, card["sha256"])
    except MirlError as exc:
        print(f"shipped into {spec.folder}, not pinned: {exc}", file=sys.stderr)
        return
    print(f"shipped into {spec.folder}; sha256 {card['sha256'][:12]}… " + (f"pinned in {PINS_FILE}: the family's "
          "tasks register with it" if new else "was already its pin"), file=sys.stderr)


def ship_agents(args) -> int:
    """Ship a run's current weights without training: the final agent of a finished run, or (``--unfinished``)
    an interim one whose card says at which step of how many it was taken."""
    from mirl.agents import ship_training_checkpoints, write_checkpoint_and_card
    from mirl.ppo import SNAPSHOT_DIR, PPOConfig, load_state

    specs = [s for s in get_agents() if s.family == args.family and (args.agent is None or s.id == args.agent)]
    if not specs:
        families = sorted({s.family for s in get_agents()})
        raise MirlError(f"no agent to ship for family {args.family!r}; families with agents: {families}")
    for spec in specs:
        check_ship_folder(spec)
    for spec in specs:
        seed = spec.config.seed if args.seed is None else args.seed
        run_dir = Path(args.run_dir) if args.run_dir else mirl_home() / "runs" / f"{spec.id}-seed{seed}"
        saved = load_state(run_dir / "state.pt")
        config = PPOConfig.from_dict(saved["config"])
        state = saved["training"]
        notes = []
        if state.update < config.num_updates:
            if not args.unfinished:
                raise MirlError(
                    f"run {run_dir} is at step {state.global_step:,} of {config.total_steps:,}; finish it with "
                    f"`mirl agents train {spec.family} --resume`, or pass --unfinished to ship an interim agent"
                )
            notes.append(
                f"interim agent: the weights at step {state.global_step:,} of a {config.total_steps:,}-step run "
                f"that was still training; the final agent replaces it (and the tasks' pinned sha256)"
            )
        agent = spec.build()
        agent.load_state_dict(saved["agent"])
        agent.eval()
        snapshots = (ship_training_checkpoints(spec, run_dir / SNAPSHOT_DIR, spec.ship_snapshots)
                     if spec.ship_snapshots else [])
        card = write_checkpoint_and_card(spec, agent, config, spec.folder, state.wall_seconds, state.global_step,
                                         notes, snapshots)
        _report_shipped(spec, card, True)
    return 0


def recard_agents(args) -> int:
    """Re-measure the facts on shipped agents' cards (after a family adds a measurement); the checkpoint, its
    sha256 and the training record stay as they are."""
    import torch

    from mirl.agents import sha256_file

    specs = [s for s in get_agents() if s.family == args.family and (args.agent is None or s.id == args.agent)]
    if not specs:
        families = sorted({s.family for s in get_agents()})
        raise MirlError(f"no agent for family {args.family!r}; families with agents: {families}")
    for spec in specs:
        card = spec.read_card()
        if sha256_file(spec.checkpoint_path) != card.get("sha256"):
            raise MirlError(f"{spec.id}: the checkpoint's sha256 differs from its card's; re-ship it instead")
        agent = spec.build()
        agent.load_state_dict(torch.load(spec.checkpoint_path, map_location="cpu", weights_only=True))
        agent.eval()
        card.update(spec.card_facts(agent))
        spec.card_path.write_text(json.dumps(card, indent=2) + "\n")
        print(json.dumps({k: card[k] for k in ("id", "sha256", "metrics")}, indent=2))
    return 0


def main(args) -> int:
    commands = {"list": list_agents, "verify": verify_agents, "train": train_agents, "ship": ship_agents,
                "card": recard_agents}
    return commands[args.agents_command](args)
