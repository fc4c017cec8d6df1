"""mirl's adversarial suite: an installed plugin package of methods that try what a determined cheater would
(``mirl-cheaters/``: read the salt, the scorer's memory, the Task through gc or the stack, the oracle, the store),
run by ``mirl run`` under a private salt file, as a user would run them. Each answers perfectly only if its cheat
worked and at the floor otherwise, so a score near the floor (or a failure) means the barrier held.

Where workers run as a user of their own (mirl as root, and ``nobody`` can read Python), every cheat fails. Where
they keep mirl's user, results say ``sealed: "partial"`` and the cheats that need no barrier between users still
fail; the others may succeed, which is what "partial" says. This machine's pyenv Python lives under a /root that
only root may enter, so the second test builds a copy of the interpreter that ``nobody`` can read.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TASK = "smoke/goal-readout-v1"
# one task of every other family: the cheaters answer nothing there (nothing is scored), saying what they found
ELSEWHERE = ("coinrun/coin-readout-v1", "doorkey/state-readout-v1", "maze/goal-readout-v1", "sokoban/plan-readout-v1")
CHEATERS = ("cheat-salt", "cheat-memory", "cheat-objects", "cheat-oracle", "cheat-store")
NEED_NO_BARRIER = {"cheat-objects", "cheat-oracle"}  # fail even in a worker of mirl's own user
FAMILY = "cheat-family"  # on TASK only: it names the test split it derived, checked apart from the others


@pytest.fixture(scope="module")
def shared_dir():
    """A folder every user may read (pytest's own are root's only): what a worker of ``nobody`` imports is here."""
    path = Path(tempfile.mkdtemp(prefix="mirl-adversarial-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def cheaters_site(shared_dir):
    """The mirl-cheaters package installed with pip into a folder of its own (found through its entry point)."""
    source = shared_dir / "source"
    shutil.copytree(HERE / "mirl-cheaters", source)  # pip builds in the source folder: not in the checkout
    target = shared_dir / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True)
    return target


def held(result: dict) -> bool:
    """The cheat got nothing: the floor answer's score, or a run that failed saying so (the oracle's: no view
    has ``oracle_answer``)."""
    if result["status"] == "failed":
        return "the cheat found nothing" in result["error"] or "has no attribute 'oracle_answer'" in result["error"]
    return result["task_id"] == TASK and abs(result["normalized_score"]) < 0.1


def run_cheaters(python: str, site: Path, tmp_path: Path) -> tuple[dict[str, dict], str, Path]:
    """One honest method, then every cheater, in one ``mirl run`` under a private salt file, then the cheaters on
    one task of every other family; (the cheaters' results by (task, method), stderr, MIRL_HOME). The honest
    result, stored first, must be stored unchanged after."""
    salt = tmp_path / "salt"
    salt.write_text("a private salt\n")
    salt.chmod(0o600)
    home = tmp_path / "home"
    env = {**os.environ, "MIRL_HOME": str(home), "WANDB_MODE": "disabled", "PYTHONPATH": str(site),
           "MIRL_TEST_SALT_FILE": str(salt)}
    for name in ("MIRL_TEST_SALT", "MIRL_IN_PROCESS", "MIRL_LOAD_PLUGINS", "MIRL_DISABLE_PLUGINS"):
        env.pop(name, None)

    proc = subprocess.run([python, "-m", "mirl", "run", TASK, "--method", "random", *CHEATERS, FAMILY, "--json",
                           "--no-wandb"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1) and proc.stdout.startswith("["), proc.stderr  # 1: a run failed
    honest, *cheats = json.loads(proc.stdout)
    assert honest["method"] == "random" and honest["status"] == "ok", honest
    elsewhere = subprocess.run([python, "-m", "mirl", "run", *ELSEWHERE, "--method", *CHEATERS, "--json",
                                "--no-wandb"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert elsewhere.returncode == 1 and elsewhere.stdout.startswith("["), elsewhere.stderr  # every run fails
    stored = json.loads((home / "results" / "smoke" / f"{honest['result_id']}.json").read_text())
    assert stored == honest  # what the cheaters ran after did not change it
    results = {(r["task_id"], r["method"]): r for r in cheats + json.loads(elsewhere.stdout)}
    assert sorted(results) == sorted([(TASK, FAMILY), *((t, m) for t in (TASK, *ELSEWHERE) for m in CHEATERS)])
    assert_family_code_derives_only_the_public_split(results.pop((TASK, FAMILY)), salt)
    return results, proc.stderr + elsewhere.stderr, home


def assert_family_code_derives_only_the_public_split(result: dict, salt: Path) -> None:
    """``cheat-family`` called the family's own test-split function with the run's seed in its worker: the
    split it got is the public salt's, not the private one the run was scored on."""
    from unittest import mock

    from mirl.pluginhost import get_tasks

    sys.path.insert(0, str(HERE / "mirl-cheaters"))
    try:
        from mirl_cheaters import split_digest
    finally:
        sys.path.remove(str(HERE / "mirl-cheaters"))
    from mirl.seeding import test_seed

    task = get_tasks().get(TASK)
    agent = task.load_agent()
    public = split_digest(task.test_states(agent, test_seed(result["seed"]), []))
    with mock.patch.dict(os.environ, {"MIRL_TEST_SALT_FILE": str(salt)}):
        private = split_digest(task.test_states(agent, test_seed(result["seed"]), []))
    assert public != private
    assert result["status"] == "failed" and result["error"].endswith(f"the cheat derived a test split: {public}"), (
        result["error"])


@pytest.mark.slow
def test_cheats_fail_where_workers_are_sealed_and_results_say_partial_where_not(cheaters_site, tmp_path):
    results, stderr, _ = run_cheaters(sys.executable, cheaters_site, tmp_path)
    (sealed,) = {r["sealed"] for r in results.values()}
    for (task, name), result in results.items():
        if sealed is True or name in NEED_NO_BARRIER:
            assert held(result), (task, name, result["status"], result["normalized_score"], result["error"])
    oracle = results[TASK, "cheat-oracle"]
    assert oracle["status"] == "failed" and "oracle_answer" in oracle["error"]
    if sealed == "partial":  # said once per command, as a warning
        assert stderr.count("results are marked sealed: partial") == 2, stderr
        # and these cheats work where nothing stands between users: their floor elsewhere is the barrier's doing
        for name in ("cheat-salt", "cheat-store"):
            assert results[TASK, name]["normalized_score"] == pytest.approx(1.0), (name, results[TASK, name])
            assert all("the cheat WORKED" in results[task, name]["error"] for task in ELSEWHERE), name


def python_nobody_can_read(folder: Path) -> str:
    """This Python's interpreter and standard library copied into ``folder`` (which every user may read), as a
    venv that sees this one's packages: where Python lives under a folder only root may enter (pyenv in /root),
    this is what lets mirl's workers run as ``nobody``."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    prefix = folder / "python"
    shutil.copytree(Path(sys.base_prefix) / "lib" / version, prefix / "lib" / version, symlinks=True,
                    ignore=shutil.ignore_patterns("site-packages", "test", "idlelib", "tkinter", "turtledemo"))
    (prefix / "bin").mkdir()
    shutil.copy2(os.path.realpath(sys.executable), prefix / "bin" / version)
    venv = folder / "venv"
    subprocess.run([str(prefix / "bin" / version), "-m", "venv", "--without-pip", str(venv)], check=True)
    packages = sysconfig.get_paths()["purelib"]
    (venv / "lib" / version / "site-packages" / "this_venv.pth").write_text(
        f"import site; site.addsitedir({packages!r})\n")
    return str(venv / "bin" / "python")


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="workers change user only under root")
def test_every_cheat_fails_where_workers_run_as_nobody(cheaters_site, shared_dir, tmp_path):
    python = python_nobody_can_read(shared_dir)
    results, stderr, home = run_cheaters(python, cheaters_site, tmp_path)
    assert {r["sealed"] for r in results.values()} == {True}, stderr
    for (task, name), result in results.items():
        assert held(result), (task, name, result["status"], result["normalized_score"], result["error"])
    assert "sealed: partial" not in stderr
