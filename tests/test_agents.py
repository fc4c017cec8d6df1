"""`mirl agents list|verify`: the zoo's checkpoints, hashes and cards."""

from __future__ import annotations

import dataclasses
import json
import shutil
import types

from mirl import hookimpl
from mirl.cli.main import main
from mirl.pluginhost import get_agents, get_tasks


def test_list_json_has_hash_parameters_steps_and_card_metrics(capsys):
    assert main(["agents", "list", "--json"]) == 0
    [entry] = [e for e in json.loads(capsys.readouterr().out) if e["id"] == "smoke-ppo"]
    assert entry["family"] == "smoke" and entry["sha256"] == get_tasks().get("smoke/goal-readout-v1").spec.agent.sha256
    assert entry["parameters"] == 19261 and entry["steps"] > 0
    assert entry["metrics"]["greedy_success"] == 1.0


def test_verify_passes_for_the_shipped_agents(capsys):
    assert main(["agents", "verify"]) == 0
    assert "ok  smoke-ppo" in capsys.readouterr().out


def test_verify_reports_a_tampered_checkpoint(tmp_path, mirl_plugin, capsys):
    shipped = get_agents().get("smoke-ppo")
    for name in (shipped.checkpoint, shipped.card):
        shutil.copy(shipped.folder / name, tmp_path / name)
    (tmp_path / shipped.checkpoint).write_bytes((tmp_path / shipped.checkpoint).read_bytes() + b"tampered")
    copy = dataclasses.replace(shipped, id="smoke-copy", folder=tmp_path)

    @hookimpl
    def register_agents(register):
        register(copy)

    mirl_plugin(types.SimpleNamespace(__name__="copy", register_agents=register_agents), name="copy")
    assert main(["agents", "verify"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mirl: error: smoke-copy: checkpoint sha256")
    assert "differs from its card's" in err[0]


def test_train_for_an_unknown_family_is_a_one_line_error(capsys):
    assert main(["agents", "train", "nosuchfamily"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "mirl: error: no agent to train for family 'nosuchfamily'; families with agents: ['coinrun', 'smoke']"
