"""`mirl tasks`, `mirl methods`, `mirl plugins`: what is installed. Never imports torch, wandb or procgen."""

from __future__ import annotations

import json
from dataclasses import asdict

from mirl.pluginhost import get_methods, get_tasks, plugin_records
from mirl.schemas import superseded


def _print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for line in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())


def tasks(args) -> int:
    registry = get_tasks()
    newer = superseded(registry.ids())
    entries = []
    for task in registry:
        spec = task.spec
        entries.append({
            "id": spec.id, "family": spec.family, "version": spec.version, "answer_kind": spec.answer_kind,
            "agent": spec.agent.id, "agent_sha256": spec.agent.sha256, "primary_metric": spec.primary_metric,
            "title": spec.title, "plugin": registry.provider(spec.id), "superseded_by": newer.get(spec.id),
        })
    if args.json:
        print(json.dumps(entries, indent=2))
    else:
        _print_table([[e["id"], e["answer_kind"], e["primary_metric"], e["agent"],
                       f"(superseded by {e['superseded_by']}) {e['title']}" if e["superseded_by"] else e["title"]]
                      for e in entries], ["task", "answer", "metric", "agent", "title"])
    return 0


def methods(args) -> int:
    registry = get_methods()
    entries = []
    for method in registry:
        info = method.info
        entries.append({
            "name": info.name, "version": info.version, "answer_kinds": info.answer_kinds,
            "families": info.families, "stochastic": info.stochastic, "description": info.description,
            "references": info.references, "hyperparameters": info.hyperparameters, "compute": info.compute,
            "plugin": registry.provider(info.name),
        })
    if args.json:
        print(json.dumps(entries, indent=2))
    else:
        _print_table(
            [[e["name"], e["version"], ",".join(e["answer_kinds"]), ",".join(e["families"] or ["*"]),
              e["plugin"], e["description"]] for e in entries],
            ["method", "version", "answers", "families", "plugin", "description"],
        )
    return 0


def plugins(args) -> int:
    print(json.dumps([asdict(r) for r in plugin_records()], indent=2))
    return 0
