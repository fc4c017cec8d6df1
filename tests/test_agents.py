"""`mirl agents list|verify`: the zoo's checkpoints, hashes and cards."""

from __future__ import annotations

import dataclasses
import json
import shutil
import types

from mirl import hookimpl
from mirl.cli.main import main
from mirl.pins import read_pins, write_pin
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
    assert err == "mirl: error: no agent to train for family 'nosuchfamily'; families with agents: ['coinrun', 'doorkey', 'icrl', 'maze', 'smoke', 'sokoban']"


def test_ship_an_interim_agent_with_training_checkpoints_then_recard(tmp_path, mirl_plugin, capsys):
    """`mirl agents ship` refuses an unfinished run unless told; the card says the agent is interim and lists
    float16 training checkpoints that load back; `mirl agents card` re-measures without touching the weights."""
    import torch

    from mirl.agents import load_training_checkpoint, sha256_file
    from mirl.ppo import train

    shipped = get_agents().get("smoke-ppo")
    config = dataclasses.replace(shipped.config, total_steps=shipped.config.num_envs * shipped.config.num_steps * 8,
                                 checkpoints=4)
    copy = dataclasses.replace(shipped, id="smoke-copy", family="smokecopy", folder=tmp_path / "family", config=config)
    copy.folder.mkdir()

    @hookimpl
    def register_agents(register):
        register(copy)

    mirl_plugin(types.SimpleNamespace(__name__="copy", register_agents=register_agents), name="copy")
    run = tmp_path / "run"
    train(config, lambda: copy.make_agent(0), copy.make_env, run, stop_after_updates=4)
    assert main(["agents", "ship", "smokecopy", "--run-dir", str(run)]) == 2
    assert "pass --unfinished to ship an interim agent" in capsys.readouterr().err
    assert main(["agents", "ship", "smokecopy", "--run-dir", str(run), "--unfinished"]) == 0
    card = copy.read_card()
    assert read_pins(copy.folder) == {"smoke-copy": card["sha256"]}  # shipping pins it
    assert "pinned in pins.json" in capsys.readouterr().err
    assert card["steps"] == 4 * config.num_envs * config.num_steps and card["notes"][0].startswith("interim agent")
    assert [e["step"] for e in card["training_checkpoints"]] == [2 * 2048, 4 * 2048]
    snapshot = torch.load(run / "checkpoints" / "step0000008192.pt", weights_only=True)
    loaded = load_training_checkpoint(copy, 8192).state_dict()
    for name, weights in snapshot.items():
        torch.testing.assert_close(loaded[name], weights, atol=1e-2, rtol=1e-3)
    before = sha256_file(copy.checkpoint_path)
    (copy.card_path).write_text(json.dumps({**card, "metrics": {}}))
    assert main(["agents", "card", "smokecopy"]) == 0
    assert copy.read_card()["metrics"] == card["metrics"] and sha256_file(copy.checkpoint_path) == before


def test_shipping_into_a_pip_installed_family_is_refused_before_training(tmp_path, mirl_plugin, capsys):
    shipped = get_agents().get("smoke-ppo")
    installed = dataclasses.replace(shipped, id="smoke-installed", family="smokeinstalled",
                                    folder=tmp_path / "lib" / "site-packages" / "family")

    @hookimpl
    def register_agents(register):
        register(installed)

    mirl_plugin(types.SimpleNamespace(__name__="installed", register_agents=register_agents), name="installed")
    assert main(["agents", "train", "smokeinstalled", "--ship", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "a copy that the next pip install replaces; ship from its source tree" in err
    assert "training" not in err and not (tmp_path / "run").exists()


def test_every_registered_agent_carries_its_card_measure_and_a_bare_spec_says_where_it_is():
    import pytest

    from mirl.errors import MirlError
    from mirl.tasks.coinrun.agent import spec

    assert all(callable(s.evaluate) for s in get_agents()), [s.id for s in get_agents() if s.evaluate is None]
    bare = spec()  # agent.py alone: the card module (which imports the tasks) is attached at registration
    with pytest.raises(MirlError, match="coinrun-ppo has no card measure here; use the spec its family registers"):
        bare.card_facts(None)


def test_pins_are_written_once_and_a_new_agent_under_a_pinned_id_is_refused(tmp_path):
    import pytest

    from mirl.errors import MirlError

    assert read_pins(tmp_path) == {}
    assert write_pin(tmp_path, "b", "1" * 64) and write_pin(tmp_path, "a", "0" * 64)
    assert write_pin(tmp_path, "a", "0" * 64) is False  # already so pinned
    with pytest.raises(MirlError, match="a is pinned to 000000000000…, not 222222222222…: .* bump their versions"):
        write_pin(tmp_path, "a", "2" * 64)
    assert list(read_pins(tmp_path).items()) == [("b", "1" * 64), ("a", "0" * 64)]  # in the order pinned
    (tmp_path / "pins.json").write_text("{")
    with pytest.raises(MirlError, match="pins.json is not valid JSON"):
        read_pins(tmp_path)


def test_every_task_pins_its_agents_through_its_familys_data_file():
    for task in get_tasks():
        refs = list(task.spec.agents) or [task.spec.agent]
        pins = read_pins(task.folder)
        assert all(pins[ref.id] == ref.sha256 for ref in refs), task.spec.id


# smoke's card facts are exhaustive over every start state: nothing is sampled, so there is no interval
EXHAUSTIVE_CARDS = {"smoke"}


def test_every_sampled_card_fact_is_a_three_seed_mean_inside_its_interval():
    for spec in get_agents():
        if spec.family in EXHAUSTIVE_CARDS:
            continue
        card = spec.read_card()
        assert len(card.get("card_seeds", ())) >= 3 and card["intervals"], spec.id
        for name, (low, high) in card["intervals"].items():
            assert low <= card["metrics"][name] <= high, (spec.id, name)
