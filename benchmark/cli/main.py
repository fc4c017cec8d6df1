"""`mirl`: entry point and argument parsing. Imports stay lazy so `mirl --help` and listings are fast."""

from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = "mirl: benchmark interpretability methods on reinforcement-learning agents."


MAX_SEED = 2**32  # mirl.seeding.MAX_SEED; not imported, so that `mirl --help` stays free of numpy


def seed_arg(text: str) -> int:
    """argparse type of every --seed: an integer 0 <= seed < 2**32, else a one-line usage error."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; use 0 <= seed < 2**32") from None
    if not 0 <= seed < MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text} is out of range; use 0 <= seed < 2**32")
    return seed


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mirl", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("tasks", help="list installed tasks")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("methods", help="list installed methods")
    p.add_argument("--json", action="store_true", help="print JSON")

    sub.add_parser("plugins", help="list loaded plugins as JSON (names, versions, hooks)")

    p = sub.add_parser("run", help="evaluate methods on tasks and store the results")
    p.add_argument("tasks", nargs="+", metavar="TASK", help="task ids, e.g. smoke/goal-readout-v1")
    p.add_argument("--method", "-m", nargs="+", required=True, metavar="NAME", help="method names")
    p.add_argument("--seed", type=seed_arg, default=0, help="task seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the results as a JSON list")
    p.add_argument("--no-wandb", action="store_true", help="do not log to Weights & Biases")
    p.add_argument("--in-process", action="store_true",
                   help="run each method in this process, not in a sealed worker: for stepping into a method with a "
                   "debugger; its results are marked sealed=false (also MIRL_IN_PROCESS=1)")

    p = sub.add_parser("bench", help="the main job: every task × every method, then the leaderboard")
    p.add_argument("--tasks", default="*", metavar="GLOB", help="task ids to include (glob, default all)")
    p.add_argument("--methods", nargs="+", metavar="NAME", help="methods to include (default all)")
    p.add_argument("--seed", type=seed_arg, default=0, help="task seed (default 0)")
    p.add_argument("--stochastic-seeds", type=int, default=3, metavar="K",
                   help="run stochastic methods on seeds SEED … SEED+K−1, for their seed-to-seed spread (default 3)")
    p.add_argument("--no-wandb", action="store_true", help="do not log to Weights & Biases")
    p.add_argument("--format", choices=["table", "md", "json"], default="table", help="leaderboard format")
    p.add_argument("--force", action="store_true",
                   help="rerun pairs already stored for this seed (default: skip them, so a stopped bench resumes)")
    p.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                   help="evaluate N runs at once, each in its own process with one torch thread (default 1)")
    p.add_argument("--in-process", action="store_true",
                   help="run each method in this process, not in a sealed worker: for stepping into a method with a "
                   "debugger; its results are marked sealed=false (also MIRL_IN_PROCESS=1)")

    p = sub.add_parser("verify", help="re-run a stored result and check that its score reproduces within its CI")
    p.add_argument("result_id", metavar="RESULT_ID", help="a stored result's id (or a unique prefix, ≥ 6 chars)")
    p.add_argument("--store", action="store_true", help="also store the re-run as a result")

    p = sub.add_parser("compare", help="paired bootstrap of two methods' stored results on the same test instances")
    p.add_argument("task", metavar="TASK", help="task id")
    p.add_argument("method_a", metavar="A", help="method name")
    p.add_argument("method_b", metavar="B", help="method name")
    p.add_argument("--seed", type=seed_arg, default=0, help="the seed both were scored with (default 0)")

    p = sub.add_parser("leaderboard", help="print the local leaderboard")
    p.add_argument("--task", metavar="T", help="only this task id")
    p.add_argument("--format", choices=["table", "md", "json", "html"], default="table",
                   help="html: one self-contained page with charts and task/method cards (use --out)")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of printing")
    p.add_argument("--wandb", action="store_true",
                   help="also push every task's table and a results.json artifact to W&B (offline unless logged in)")
    p.add_argument("--rebuild", action="store_true",
                   help="restore missing rows from the stored JSON files (a corrupt database is moved aside first)")

    p = sub.add_parser("agents", help="shipped agents: list, verify hashes, train (reproduce)")
    agents = p.add_subparsers(dest="agents_command", metavar="ACTION", required=True)
    a = agents.add_parser("list", help="shipped agents with their hashes and card metrics")
    a.add_argument("--json", action="store_true", help="print JSON")
    agents.add_parser("verify", help="recompute checkpoint hashes against cards and task specs")
    a = agents.add_parser("train", help="train a family's agent(s) with PPO, as their cards describe")
    a.add_argument("family", help="task family, e.g. smoke")
    a.add_argument("--agent", help="only this agent id")
    a.add_argument("--config", help="PPO settings to override: a JSON object or a JSON file")
    a.add_argument("--steps", type=int, help="total environment steps")
    a.add_argument("--seed", type=seed_arg, help="training seed")
    a.add_argument("--resume", action="store_true", help="continue a stopped run from its state.pt")
    a.add_argument("--run-dir", help="where checkpoints go (default MIRL_HOME/runs/ID-seedN)")
    a.add_argument("--ship", action="store_true", help="write the final checkpoint and card into the family folder")
    a.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is no terminal")
    a.add_argument("--wandb", action="store_true", help="also log training curves to W&B (offline unless logged in)")
    a = agents.add_parser("card", help="re-measure a shipped agent's card facts (same checkpoint, same sha256)")
    a.add_argument("family", help="task family, e.g. coinrun")
    a.add_argument("--agent", help="only this agent id")
    a = agents.add_parser("ship", help="write a training run's checkpoint and card into the family folder")
    a.add_argument("family", help="task family, e.g. coinrun")
    a.add_argument("--agent", help="only this agent id")
    a.add_argument("--seed", type=seed_arg, help="the run's training seed (default: the agent's config)")
    a.add_argument("--run-dir", help="the run to ship (default MIRL_HOME/runs/ID-seedN)")
    a.add_argument("--unfinished", action="store_true",
                   help="ship a run that has not reached its total steps; the card says so (an interim agent)")

    p = sub.add_parser("schema", help="print a JSON Schema (result, task, method, answer)")
    p.add_argument("which", nargs="?", default="result", choices=["result", "task", "method", "answer"])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from mirl.errors import MirlError

    try:
        if args.command in ("tasks", "methods", "plugins"):
            from mirl.cli import listing

            return getattr(listing, args.command)(args)
        if args.command in ("run", "bench", "verify", "compare"):
            from mirl.cli import run

            if getattr(args, "in_process", False):
                os.environ["MIRL_IN_PROCESS"] = "1"  # where mirl.runner reads it, in --jobs processes too
            if args.command != "compare" and getattr(args, "jobs", 1) == 1:
                from mirl.runner import sealed_by_default, template

                if sealed_by_default():
                    template()  # the sealed workers' template starts now: its imports overlap loading the plugins

            return getattr(run, args.command)(args)
        if args.command == "agents":
            from mirl.cli import agents

            return agents.main(args)
        if args.command == "leaderboard":
            from mirl.cli import leaderboard

            return leaderboard.main(args)
        from mirl.cli import schema

        return schema.main(args)
    except MirlError as exc:
        print(f"mirl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`mirl leaderboard | head`): stop quietly, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # or the flush at exit fails again
        return 1


if __name__ == "__main__":
    sys.exit(main())
