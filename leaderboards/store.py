"""The local leaderboard store: SQLite (standard library) under MIRL_HOME, plus one JSON file per result.

One transaction per result (``BEGIN IMMEDIATE``, WAL journal, a long busy timeout), so several ``mirl run``
processes can write at once without losing or duplicating anything; ``result_id`` is the primary key.
The JSON files are a second copy from which the database can be rebuilt.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from mirl.errors import StoreBusyError, StoreError
from mirl.schemas import Result

SCHEMA_VERSION = 1
DB_NAME = "leaderboard.sqlite"
BUSY_TIMEOUT_SECONDS = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    result_id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    method TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    score REAL,
    created_at TEXT NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_task ON results (task_id, method);
"""


def _is_busy(exc: sqlite3.DatabaseError) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


def _set_wal(conn: sqlite3.Connection) -> None:
    """Switch to the WAL journal. That needs an exclusive lock, and SQLite answers "database is locked" at once,
    without waiting in the busy handler, when several processes open a fresh store together: retry."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


class ResultStore:
    """Results of every run on this machine; open it with ``ResultStore(mirl_home())``."""

    def __init__(self, home: Path, move_corrupt_aside: bool = False):
        """``move_corrupt_aside`` (``mirl leaderboard --rebuild``): a database that is not usable SQLite is
        renamed ``leaderboard.sqlite.corrupt-TIME`` (kept, with its journal files) and a fresh one is made, for
        ``rebuild_from_json`` to fill; ``moved_aside`` names where it went."""
        self.home = Path(home)
        self.moved_aside: Path | None = None
        self.db_path = self.home / DB_NAME
        self.json_dir = self.home / "results"
        try:
            self.json_dir.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.home, prefix=".write-test-", delete=True)
            probe.close()
        except OSError as exc:
            raise StoreError(
                f"cannot write the leaderboard store in {self.home} ({exc.strerror or exc}); "
                "set MIRL_HOME to a writable folder"
            ) from None
        try:
            self._init_schema()
            if move_corrupt_aside:
                self._check_integrity()
        except StoreError as exc:
            if not move_corrupt_aside or isinstance(exc, StoreBusyError):  # a busy store is not a broken one
                raise
            self._move_aside()
            self._init_schema()

    def _check_integrity(self) -> None:
        try:
            conn = self._connect()
            try:
                verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
                conn.execute("SELECT count(*) FROM results").fetchone()
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        if verdict != "ok":
            raise self._corrupt(sqlite3.DatabaseError(verdict))

    def _move_aside(self) -> None:
        target = self.db_path.with_name(f"{DB_NAME}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(str(self.db_path) + suffix)
            if source.exists():
                os.replace(source, Path(str(target) + suffix))
        self.moved_aside = target

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        return conn

    def _corrupt(self, exc: sqlite3.DatabaseError) -> StoreError:
        if _is_busy(exc):  # a healthy store held by another process, not a broken one
            return StoreBusyError(
                f"the leaderboard store {self.db_path} stayed locked for {BUSY_TIMEOUT_SECONDS:g} s ({exc}); "
                "another mirl process is writing to it: try again when it has finished"
            )
        return StoreError(
            f"the leaderboard store {self.db_path} is not a usable SQLite database ({exc}); run "
            f"`mirl leaderboard --rebuild` to move it aside and restore it from {self.json_dir}"
        )

    def _init_schema(self) -> None:
        try:
            conn = self._connect()
            try:
                _set_wal(conn)
                conn.execute("BEGIN IMMEDIATE")
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
                conn.execute("COMMIT")
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None

    # -- writing -------------------------------------------------------------------------------------
    def add(self, result: Result) -> Path:
        """Store one result (database row + JSON file) atomically; returns the JSON file's path."""
        payload = result.model_dump_json(indent=2)
        family_dir = self.json_dir / result.task_family
        final = family_dir / f"{result.result_id}.json"
        try:
            family_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=family_dir, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w") as handle:
                handle.write(payload)
        except OSError as exc:
            raise StoreError(f"cannot write result file in {family_dir} ({exc.strerror or exc}); check MIRL_HOME") from None
        try:
            self._insert(result, payload)
        except BaseException:
            os.unlink(tmp)  # nothing half-written: no JSON without its row
            raise
        os.replace(tmp, final)
        return final

    def _insert(self, result: Result, payload: str) -> None:
        try:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "INSERT INTO results (result_id, task_id, method, seed, status, score, created_at, json) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (result.result_id, result.task_id, result.method, result.seed, result.status,
                     result.score, result.created_at, payload),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                conn.close()
        except sqlite3.IntegrityError:
            raise StoreError(f"result {result.result_id} is already stored") from None
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None

    # -- reading -------------------------------------------------------------------------------------
    def results(self, task: str | None = None, status: str | None = None) -> list[Result]:
        query, args = "SELECT json FROM results", []
        clauses = []
        if task is not None:
            clauses.append("task_id = ?")
            args.append(task)
        if status is not None:
            clauses.append("status = ?")
            args.append(status)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY created_at, rowid"
        try:
            conn = self._connect()
            try:
                rows = conn.execute(query, args).fetchall()
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        return [Result.model_validate_json(row[0]) for row in rows]

    def get(self, result_id: str) -> Result:
        """The stored result with this id, or a unique prefix of it (at least 6 characters)."""
        if len(result_id) < 6 or not all(c in "0123456789abcdef" for c in result_id):
            raise StoreError(f"result id {result_id!r} must be hexadecimal, at least 6 characters (see "
                             "`mirl leaderboard --format json` for ids)")
        try:
            conn = self._connect()
            try:
                rows = conn.execute("SELECT json FROM results WHERE result_id LIKE ? LIMIT 2",
                                    (result_id + "%",)).fetchall()
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        if not rows:
            raise StoreError(f"no stored result {result_id!r} in {self.db_path}; `mirl leaderboard --format json` "
                             "lists the ids")
        if len(rows) > 1:
            raise StoreError(f"result id prefix {result_id!r} matches several results; give more characters")
        return Result.model_validate_json(rows[0][0])

    def rebuild_from_json(self) -> int:
        """Re-insert every JSON result file missing from the database; returns how many were added."""
        known = {r.result_id for r in self.results()}
        added = 0
        for path in sorted(self.json_dir.glob("*/*.json")):
            if path.name.startswith("."):  # a temp file of a write that never committed
                continue
            payload = path.read_text()
            try:
                result = Result.model_validate_json(payload)
            except ValueError as exc:
                reason = ": ".join(str(exc).splitlines()[:2])
                raise StoreError(f"cannot restore {path}: not a valid result ({reason}); move it aside") from None
            if result.result_id not in known:
                self._insert(result, payload)
                added += 1
        return added


def dump_results(results: list[Result]) -> str:
    return json.dumps([r.model_dump(mode="json") for r in results], indent=2)
