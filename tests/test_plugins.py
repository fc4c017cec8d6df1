"""Plugin loading: entry points, allow/block lists, duplicate ids, broken plugins, the test kit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import mirl
from mirl import hookimpl
from mirl.errors import DuplicateIdError, PluginError
from mirl.method import Method
from mirl.pluginhost import PluginHost, get_methods, load_plugins
from mirl.schemas import MethodInfo

REPO = Path(__file__).resolve().parents[1]


def method_plugin(name: str, method_name: str, fail: bool = False) -> types.SimpleNamespace:
    method = type("Probe", (Method,), {
        "info": MethodInfo(name=method_name, version="1", answer_kinds=["readout"], description="probe"),
        "solve": lambda self, view: None,
    })

    @hookimpl
    def register_methods(register):
        if fail:
            raise RuntimeError("cannot register today")
        register(method)

    return types.SimpleNamespace(__name__=name, register_methods=register_methods)


def fake_distribution(site: Path, entry_name: str, module: str, source: str) -> None:
    info = site / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[mirl]\n{entry_name} = {module}\n")
    (site / f"{module}.py").write_text(source)


def test_hookimpl_is_importable_from_the_package_root():
    from mirl.hookspecs import hookimpl as spec_marker

    assert mirl.hookimpl is spec_marker


def test_builtins_come_through_entry_points_and_loading_is_idempotent():
    host = load_plugins()
    before = len(host.pm.get_plugins())
    assert load_plugins() is host and len(host.pm.get_plugins()) == before
    assert {"smoke", "baselines"} <= set(host.records)
    assert host.records["baselines"].hooks == ["register_methods"]
    assert get_methods().provider("random") == "baselines"


def test_fixture_registers_a_plugin_for_one_test_only(mirl_plugin):
    mirl_plugin(method_plugin("mine", "my-probe"), name="mine")
    assert "my-probe" in get_methods()
    assert get_methods().provider("my-probe") == "mine"


def test_the_plugin_from_the_previous_test_is_gone():
    assert "my-probe" not in get_methods()


def test_duplicate_ids_name_both_plugins(mirl_plugin):
    mirl_plugin(method_plugin("first", "twin"), name="first")
    mirl_plugin(method_plugin("second", "twin"), name="second")
    with pytest.raises(DuplicateIdError, match="'twin' is registered twice: by plugin 'first' and by plugin 'second'"):
        get_methods()


def test_duplicate_of_a_builtin_is_rejected(mirl_plugin):
    mirl_plugin(method_plugin("impostor", "random"), name="impostor")
    with pytest.raises(DuplicateIdError, match="'baselines'.*'impostor'"):
        get_methods()


def test_a_hook_that_raises_is_reported_with_the_plugin_name(mirl_plugin):
    mirl_plugin(method_plugin("flaky", "flaky-probe", fail=True), name="flaky")
    with pytest.raises(PluginError, match="plugin 'flaky' failed in register_methods: RuntimeError: cannot register today"):
        get_methods()


def test_a_plugin_that_raises_at_import_is_skipped_with_a_clear_line(tmp_path, monkeypatch, capsys):
    fake_distribution(tmp_path, "broken", "fake_broken_plugin", "raise ImportError('needs libfoo')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("MIRL_LOAD_PLUGINS", "broken,baselines")
    host = PluginHost()
    host.load_entry_points()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "plugin 'broken' (fake_broken_plugin) failed to import (ImportError: needs libfoo)" in err[0]
    assert "MIRL_DISABLE_PLUGINS=broken" in err[0]
    assert host.records["broken"].error == "ImportError: needs libfoo"
    assert "random" in host.methods  # the other plugins still load


def test_allow_and_block_lists(tmp_path, monkeypatch):
    monkeypatch.setenv("MIRL_LOAD_PLUGINS", "smoke")
    only_smoke = PluginHost()
    only_smoke.load_entry_points()
    assert set(only_smoke.records) == {"smoke"} and len(only_smoke.methods) == 0

    monkeypatch.delenv("MIRL_LOAD_PLUGINS")
    fake_distribution(tmp_path, "stray", "fake_stray_plugin", "")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("MIRL_DISABLE_PLUGINS", "smoke, stray")
    blocked = PluginHost()
    blocked.load_entry_points()
    assert "smoke" not in blocked.records and "stray" not in blocked.records
    assert "baselines" in blocked.records
    assert not any(task_id.startswith("smoke/") for task_id in blocked.tasks.ids())


@pytest.mark.slow
def test_example_plugin_installs_lists_and_scores(tmp_path):
    """A real third-party package: installed with pip, found through its entry point, scored by `mirl run`."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO / "examples" / "mirl-example-method")],
        check=True, capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target), "MIRL_HOME": str(tmp_path / "home"), "WANDB_MODE": "disabled"}
    env.pop("MIRL_LOAD_PLUGINS", None)  # everything installed, as a user would have it
    listed = subprocess.run([sys.executable, "-m", "mirl", "methods", "--json"], env=env, capture_output=True, text=True, check=True)
    entry = next(m for m in json.loads(listed.stdout) if m["name"] == "class-means")
    assert entry["plugin"] == "class_means" and entry["answer_kinds"] == ["readout", "prediction"]
    plugins = json.loads(subprocess.run([sys.executable, "-m", "mirl", "plugins"], env=env, capture_output=True, text=True, check=True).stdout)
    record = next(p for p in plugins if p["name"] == "class_means")
    assert record["distribution"] == "mirl-example-method" and record["version"] == "0.1.0"

    ran = subprocess.run(
        [sys.executable, "-m", "mirl", "run", "smoke/goal-readout-v1", "--method", "class-means", "--json", "--no-wandb"],
        env=env, capture_output=True, text=True,
    )
    assert ran.returncode == 0, ran.stderr
    [result] = json.loads(ran.stdout)
    assert result["status"] == "ok" and result["normalized_score"] > 0.9
    assert result["provenance"]["method_plugin"] == "class_means"

    # and the plugin's own contract test passes against the installed mirl
    contract = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "mirl.testing",
         str(REPO / "examples" / "mirl-example-method" / "tests"), "--rootdir", str(tmp_path)],
        env={**env, "MIRL_LOAD_PLUGINS": "smoke"}, capture_output=True, text=True, cwd=tmp_path,
    )
    assert contract.returncode == 0, contract.stdout + contract.stderr
