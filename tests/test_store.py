"""The local result store: round trips, real concurrent writers, and clear errors for unusable stores."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mirl.errors import StoreError
from mirl.leaderboards.store import DB_NAME, ResultStore
from mirl.pluginhost import get_methods, get_tasks
from mirl.runner import evaluate
from mirl.schemas import Result


def json_files(home: Path) -> list[Path]:
    """Committed result files (temp files start with a dot)."""
    return sorted(p for p in (home / "results").glob("*/*.json") if not p.name.startswith("."))


def temp_files(home: Path) -> list[Path]:
    return sorted((home / "results").glob("*/.tmp-*"))


def db_ids(home: Path) -> list[str]:
    conn = sqlite3.connect(home / DB_NAME)
    try:
        return [row[0] for row in conn.execute("SELECT result_id FROM results")]
    finally:
        conn.close()


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its content (None for folders), to prove nothing was written."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mirl: error: ")
    return lines[0]


# --- round trip -----------------------------------------------------------------------------------------


def test_add_and_read_back_a_real_result(home):
    result = evaluate(get_tasks().get("smoke/goal-readout-v1"), get_methods().get("random"), seed=1)
    assert result.status == "ok"
    store = ResultStore(home)

    path = store.add(result)

    assert store.results() == [result]
    assert path == home / "results" / result.task_family / f"{result.result_id}.json"
    assert path.is_file()
    assert Result.model_validate_json(path.read_text()) == result
    assert json.loads(path.read_text())["result_id"] == result.result_id
    assert ResultStore(home).results() == [result]  # a second opening sees it too
    assert temp_files(home) == []


def test_results_filter_by_task_and_status(home, make_result):
    store = ResultStore(home)
    a = make_result(task_id="smoke/goal-readout-v1", created_at="2026-01-01T00:00:00+00:00")
    b = make_result(task_id="smoke/goal-units-v1", created_at="2026-01-02T00:00:00+00:00")
    c = make_result(task_id="smoke/goal-readout-v1", status="failed", created_at="2026-01-03T00:00:00+00:00")
    for r in (c, b, a):
        store.add(r)

    assert store.results() == [a, b, c]  # oldest first
    assert store.results(task="smoke/goal-readout-v1") == [a, c]
    assert store.results(status="failed") == [c]
    assert store.results(task="smoke/goal-units-v1", status="failed") == []


# --- concurrency ------------------------------------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mirl.leaderboards.store import ResultStore
    from mirl.schemas import Result

    home, batch, ready, go = (Path(a) for a in sys.argv[1:5])
    results = [Result.model_validate_json(line) for line in batch.read_text().splitlines()]
    ready.touch()
    deadline = time.monotonic() + 60
    while not go.exists():  # every writer starts at the same moment, on a store nobody has created yet
        if time.monotonic() > deadline:
            sys.exit("no go signal")
        time.sleep(0.001)
    store = ResultStore(home)
    for result in results:
        store.add(result)
    """
)


def test_concurrent_processes_lose_and_duplicate_nothing(tmp_path, make_result):
    home = tmp_path / "home"
    n_workers, per_worker = 4, 25
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    expected: dict[str, Result] = {}
    procs = []
    for w in range(n_workers):
        batch = [
            make_result(method=f"m{w}", seed=i, task_id=f"smoke/goal-readout-v{1 + i % 3}",
                        task_version=1 + i % 3, created_at=f"2026-01-01T00:{w:02d}:{i:02d}+00:00")
            for i in range(per_worker)
        ]
        expected.update((r.result_id, r) for r in batch)
        batch_file = tmp_path / f"batch{w}.jsonl"
        batch_file.write_text("\n".join(r.model_dump_json() for r in batch))
        procs.append(subprocess.Popen(
            [sys.executable, str(script), str(home), str(batch_file), str(tmp_path / f"ready{w}"),
             str(tmp_path / "go")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready{w}").exists() for w in range(n_workers)):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    (tmp_path / "go").touch()
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err

    ids = db_ids(home)
    assert len(ids) == n_workers * per_worker == 100
    assert set(ids) == set(expected)
    files = json_files(home)
    assert len(files) == 100
    assert {p.stem for p in files} == set(expected)
    assert temp_files(home) == []
    stored = ResultStore(home).results()
    assert len(stored) == 100
    assert {r.result_id: r for r in stored} == expected
    for path in files:
        assert Result.model_validate_json(path.read_text()) == expected[path.stem]


OPENER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mirl.leaderboards.store import ResultStore

    root, ready, go = (Path(a) for a in sys.argv[1:4])
    ready.touch()
    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            sys.exit("no go signal")
        time.sleep(0.001)
    for k in range(40):
        ResultStore(root / f"home{k}")  # every process creates the same fresh stores at about the same time
    """
)


def test_processes_creating_a_fresh_store_together_all_succeed(tmp_path):
    """Switching a new database to WAL needs an exclusive lock that SQLite refuses at once (no busy wait) when
    another process holds the file: several `mirl run`s on a new MIRL_HOME must still all open it."""
    script = tmp_path / "opener.py"
    script.write_text(OPENER)
    n_workers = 4
    procs = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path / "homes"), str(tmp_path / f"ready{w}"),
                          str(tmp_path / "go")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for w in range(n_workers)
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready{w}").exists() for w in range(n_workers)):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    (tmp_path / "go").touch()
    errors = []
    for p in procs:
        _, err = p.communicate(timeout=120)
        if p.returncode != 0:
            errors.append(err.strip().splitlines()[-1])
    assert errors == []
    conn = sqlite3.connect(tmp_path / "homes" / "home0" / DB_NAME)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_adding_the_same_result_twice_raises_and_keeps_one(home, make_result):
    store = ResultStore(home)
    first = make_result(score=0.5)
    path = store.add(first)
    original = path.read_bytes()
    same_id = make_result(result_id=first.result_id, score=0.9)

    with pytest.raises(StoreError, match=first.result_id):
        store.add(same_id)
    with pytest.raises(StoreError, match="already stored"):
        store.add(first)

    assert db_ids(home) == [first.result_id]
    assert store.results() == [first]
    # the failed inserts left no JSON behind: no temp file, and the first file is untouched
    assert json_files(home) == [path]
    assert temp_files(home) == []
    assert path.read_bytes() == original


# --- unusable stores ----------------------------------------------------------------------------------------

GARBAGE = b"this is not an SQLite database\n" * 300


def test_corrupted_database_raises_a_clear_store_error(home):
    home.mkdir(parents=True)
    db = home / DB_NAME
    db.write_bytes(GARBAGE)

    with pytest.raises(StoreError) as info:
        ResultStore(home)

    message = str(info.value)
    assert str(db) in message
    assert "not a usable SQLite database" in message
    assert "mirl leaderboard --rebuild" in message and "move it aside" in message
    assert db.read_bytes() == GARBAGE  # the user's file is never overwritten


def test_corrupted_database_cli_error_and_recovery(home, run_cli, make_result):
    kept = [make_result(created_at=f"2026-01-0{i}T00:00:00+00:00", method=f"m{i}") for i in range(1, 4)]
    store = ResultStore(home)
    for r in kept:
        store.add(r)
    db = home / DB_NAME
    db.write_bytes(GARBAGE)

    proc = run_cli("leaderboard", home=home)

    line = one_line_error(proc)
    assert str(db) in line and "--rebuild" in line
    assert proc.stdout == ""
    assert db.read_bytes() == GARBAGE

    # the fix the message names works on the same file: --rebuild moves it aside (kept) and restores the JSON copies
    proc = run_cli("leaderboard", "--rebuild", "--format", "json", home=home)
    assert proc.returncode == 0, proc.stderr
    assert "restored 3 result(s)" in proc.stderr and "moved it to" in proc.stderr
    rows = json.loads(proc.stdout)["smoke/goal-readout-v1"]["rows"]
    assert sorted(r["method"] for r in rows) == ["m1", "m2", "m3"]
    [aside] = home.glob(f"{DB_NAME}.corrupt-*")
    assert aside.read_bytes() == GARBAGE
    proc = run_cli("leaderboard", "--format", "json", home=home)  # the fresh database serves from now on
    assert proc.returncode == 0 and len(json.loads(proc.stdout)["smoke/goal-readout-v1"]["rows"]) == 3


def test_rebuild_keeps_a_healthy_database(home, make_result):
    store = ResultStore(home)
    store.add(make_result())
    again = ResultStore(home, move_corrupt_aside=True)
    assert again.moved_aside is None and len(again.results()) == 1


def test_corrupted_database_via_main_function(home, capsys):
    from mirl.cli.main import main

    home.mkdir(parents=True)
    (home / DB_NAME).write_bytes(GARBAGE)

    code = main(["leaderboard"])

    out, err = capsys.readouterr()
    assert code != 0
    assert out == ""
    assert err.startswith("mirl: error: ") and err.count("\n") == 1
    assert str(home / DB_NAME) in err


def test_unwritable_home_raises_store_error(tmp_path):
    (tmp_path / "file").write_text("a regular file, not a folder\n")
    home = tmp_path / "file" / "home"

    with pytest.raises(StoreError) as info:
        ResultStore(home)

    assert "MIRL_HOME" in str(info.value)
    assert str(home) in str(info.value)


def test_unwritable_home_cli_fails_cleanly_and_writes_nothing(tmp_path, run_cli, cli_cwd):
    (tmp_path / "file").write_text("a regular file, not a folder\n")
    user_home = tmp_path / "user-home"  # where platformdirs or W&B would write if MIRL_HOME were ignored
    user_home.mkdir()
    home = tmp_path / "file" / "home"
    before = tree(tmp_path)

    proc = run_cli(
        "run", "smoke/goal-readout-v1", "--method", "random", "--no-wandb", home=home,
        env={"HOME": str(user_home), "XDG_DATA_HOME": str(user_home / "data"),
             "XDG_CACHE_HOME": str(user_home / "cache"), "XDG_CONFIG_HOME": str(user_home / "config")},
    )

    line = one_line_error(proc)
    assert "MIRL_HOME" in line and str(home) in line
    assert proc.stdout == ""
    assert tree(tmp_path) == before  # nothing written anywhere: not the cwd, not the user's home
    assert list(cli_cwd.iterdir()) == []


# --- rebuilding from the JSON copies ----------------------------------------------------------------------


def test_rebuild_from_json_restores_every_result(home, make_result):
    store = ResultStore(home)
    results = [
        make_result(created_at="2026-01-01T00:00:00+00:00"),
        make_result(created_at="2026-01-02T00:00:00+00:00", method="random"),
        make_result(created_at="2026-01-03T00:00:00+00:00", status="failed"),
        make_result(created_at="2026-01-04T00:00:00+00:00", task_id="smoke/goal-units-v1", primary_metric="auroc"),
        make_result(created_at="2026-01-05T00:00:00+00:00", task_id="doorkey/key-readout-v2", task_family="doorkey",
                    task_version=2),
    ]
    for r in results:
        store.add(r)
    assert (home / "results" / "doorkey").is_dir()
    for path in home.glob(DB_NAME + "*"):  # the database and any WAL/SHM side files
        path.unlink()

    fresh = ResultStore(home)
    assert fresh.results() == []
    assert fresh.rebuild_from_json() == 5

    assert fresh.results() == results
    assert ResultStore(home).rebuild_from_json() == 0  # idempotent
    assert len(db_ids(home)) == 5


def test_rebuild_ignores_leftover_temp_files(home, make_result):
    """A writer killed between writing its temp file and committing leaves ``.tmp-*.json`` behind: it is not
    a stored result (partial or uncommitted) and must not break or pollute the rebuild."""
    store = ResultStore(home)
    kept = make_result()
    store.add(kept)
    uncommitted = make_result()
    family = home / "results" / "smoke"
    (family / ".tmp-partial.json").write_text(uncommitted.model_dump_json(indent=2)[:100])
    (family / ".tmp-complete.json").write_text(uncommitted.model_dump_json(indent=2))
    (home / DB_NAME).unlink()

    fresh = ResultStore(home)
    assert fresh.rebuild_from_json() == 1
    assert fresh.results() == [kept]


def test_rebuild_names_an_unreadable_result_file(home, make_result):
    store = ResultStore(home)
    store.add(make_result())
    bad = home / "results" / "smoke" / "0123.json"
    bad.write_text("{ not json")
    (home / DB_NAME).unlink()

    with pytest.raises(StoreError) as info:
        ResultStore(home).rebuild_from_json()

    assert str(bad) in str(info.value)
