"""Mirror results to Weights & Biases: one W&B run per result, plus a reader for offline run files.

W&B is a convenience mirror, never the record: the local result store is. So the sink never raises;
any failure costs one line on stderr. ``wandb`` is imported only inside functions because importing it
takes about half a second, which listing commands should not pay.
"""

from __future__ import annotations

import json
import netrc
import os
import struct
import sys
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from mirl.schemas import Result

PROJECT = "mirl"
# Online init waits this long for the server before giving up (W&B's default is 90 s).
INIT_TIMEOUT_S = 30.0


def resolve_mode() -> str | None:
    """W&B mode to use: ``WANDB_MODE`` if set, else "online" when logged in, else "offline"."""
    if mode := os.environ.get("WANDB_MODE"):
        return mode
    if os.environ.get("WANDB_API_KEY") or _netrc_has_key():
        return "online"
    return "offline"


def _netrc_has_key() -> bool:
    """Whether ``wandb login`` stored a key in the netrc file (found as wandb finds it, without importing it)."""
    if path := os.environ.get("NETRC"):
        candidates = [Path(path).expanduser()]
    else:
        candidates = [Path("~/.netrc").expanduser(), Path("~/_netrc").expanduser()]
    host = urlsplit(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).netloc
    for candidate in candidates:
        try:
            creds = netrc.netrc(str(candidate)).authenticators(host)
        except (OSError, netrc.NetrcParseError):
            continue
        if creds and creds[2]:
            return True
    return False


class WandbSink:
    """Logs each result as its own W&B run in project ``mirl``.

    ``directory`` is W&B's root directory (wandb.init's ``dir``); ``WANDB_DIR`` overrides it, as it would
    for plain wandb. Run folders land in ``<root>/wandb/offline-run-...`` (W&B adds the ``wandb/`` level).
    """

    def __init__(self, directory: Path, project: str = PROJECT, mode: str | None = None) -> None:
        self.directory = Path(os.environ.get("WANDB_DIR") or directory)
        self.project = project
        self.mode = mode if mode is not None else resolve_mode()
        self.gave_up = False  # set by the first failure: one W&B outage must not stall every later run

    def log_result(self, result: Result, leaderboard_rows: list[dict]) -> str | None:
        """Log one result and its task's leaderboard; return the run's local folder, or None if not logged."""
        if self.mode == "disabled" or self.gave_up:  # opted out, or failed once: no import, no message
            return None
        try:
            return self._log(result, leaderboard_rows)
        except Exception as exc:  # noqa: BLE001 - W&B trouble of any kind must never fail a mirl run
            message = " ".join(str(exc).split()) or "no message"  # keep it to one line
            reason = f"{type(exc).__name__}: {message}"
            self.gave_up = True  # an outage costs its timeout once per command, not once per run
            print(f"mirl: W&B logging failed ({reason}); W&B is off for the rest of this command, and this and "
                  "later results are safe in the local store (`mirl leaderboard --wandb` pushes them later)",
                  file=sys.stderr)
            return None

    def _log(self, result: Result, leaderboard_rows: list[dict]) -> str:
        import wandb

        # wandb silently falls back to the system temp dir when it cannot create `dir`; create it ourselves
        # so that an unusable directory is reported instead of scattering runs elsewhere.
        self.directory.mkdir(parents=True, exist_ok=True)
        settings = _quiet_settings(wandb)
        run = wandb.init(
            project=self.project,
            dir=str(self.directory),  # never the current working directory
            mode=self.mode,
            name=f"{result.task_id}|{result.method}|seed{result.seed}",
            job_type="eval",
            group=result.task_id,
            tags=[result.task_family, result.status],
            config=_config(result),
            settings=settings,
            reinit="create_new",  # leave any run the caller has open alone
        )
        try:
            if leaderboard_rows:
                columns = list(leaderboard_rows[0])
                table = wandb.Table(
                    columns=columns,
                    data=[[row.get(c) for c in columns] for row in leaderboard_rows],
                    allow_mixed_types=True,  # e.g. a score column with None for failed runs
                )
                run.log({"leaderboard": table})
            run.summary.update(_summary(result))
            run_dir = str(run.settings.sync_dir)
        finally:
            run.finish()
        return run_dir


    def push_leaderboards(self, boards: dict[str, list[dict]], results_json: str) -> str | None:
        """One run (job type ``leaderboard``) holding every task's leaderboard as a ``wandb.Table`` under
        ``leaderboard/<task id>`` and all stored results as the artifact ``results`` (``results.json``); returns
        the run's local folder, or None if not logged (W&B trouble is reported, never raised)."""
        if self.mode == "disabled":
            return None
        try:
            return self._push(boards, results_json)
        except Exception as exc:  # noqa: BLE001 - as log_result: W&B must never fail a mirl command
            message = " ".join(str(exc).split()) or "no message"
            print(f"mirl: W&B push failed ({type(exc).__name__}: {message}); the local store is unchanged",
                  file=sys.stderr)
            return None

    def _push(self, boards: dict[str, list[dict]], results_json: str) -> str:
        import tempfile

        import wandb

        self.directory.mkdir(parents=True, exist_ok=True)
        run = wandb.init(project=self.project, dir=str(self.directory), mode=self.mode, name="leaderboard",
                         job_type="leaderboard", settings=_quiet_settings(wandb), reinit="create_new")
        try:
            tables = {}
            for task, rows in boards.items():
                columns = list(rows[0]) if rows else ["method"]
                tables[f"leaderboard/{task}"] = wandb.Table(
                    columns=columns, data=[[row.get(c) for c in columns] for row in rows], allow_mixed_types=True)
            if tables:
                run.log(tables)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "results.json"
                path.write_text(results_json)
                artifact = wandb.Artifact("results", type="results",
                                          description="every result in the local mirl store (mirl.schemas.Result)")
                artifact.add_file(str(path), name="results.json")
                run.log_artifact(artifact)
            run.summary.update({"tasks": len(boards), "rows": sum(len(rows) for rows in boards.values())})
            run_dir = str(run.settings.sync_dir)
        finally:
            run.finish()
        return run_dir


def _quiet_settings(wandb: Any) -> Any:
    """Settings that keep W&B fast, silent on stdout and out of the working directory."""
    # Per-run `silent` does not reach wandb's process-wide notices (e.g. "Loaded credentials ..." on
    # stderr); those follow the settings of wandb's singleton, which this creates or updates.
    wandb.setup(wandb.Settings(silent=True))
    return wandb.Settings(
        silent=True,  # `mirl run --json` owns stdout
        console="off",  # no stdout/stderr capture
        disable_git=True,  # provenance already records the commit
        disable_code=True,
        save_code=False,
        x_disable_stats=True,  # no system-metrics sampler
        x_disable_meta=True,  # no host metadata scan
        x_disable_machine_info=True,
        x_save_requirements=False,  # no pip freeze
        # Settings passed to init beat env vars, so honour WANDB_INIT_TIMEOUT by hand.
        init_timeout=float(os.environ.get("WANDB_INIT_TIMEOUT", INIT_TIMEOUT_S)),
    )


def start_training_run(directory: Path, name: str, config: dict[str, Any], project: str = "mirl-training") -> Any:
    """A W&B run for an agent's training curves (scalars under charts/ and losses/), or None if W&B is
    disabled or fails (reported on one line: training goes on without it)."""
    mode = resolve_mode()
    if mode == "disabled":
        return None
    try:
        import wandb

        directory = Path(os.environ.get("WANDB_DIR") or directory)
        directory.mkdir(parents=True, exist_ok=True)
        return wandb.init(project=project, dir=str(directory), mode=mode, name=name, job_type="train",
                          config=config, settings=_quiet_settings(wandb), reinit="create_new")
    except Exception as exc:  # noqa: BLE001 - training must not depend on W&B
        print(f"mirl: W&B logging failed ({type(exc).__name__}: {' '.join(str(exc).split())}); training "
              "goes on, logging to stdout only", file=sys.stderr)
        return None


def _config(result: Result) -> dict[str, Any]:
    """Who/what/which seed, with provenance and compute flattened to dotted keys (W&B filters on those)."""
    fields = ["result_id", "task_id", "task_version", "task_family", "agent_id", "agent_sha256", "method",
              "method_version", "seed", "status", "primary_metric", "higher_is_better", "sealed", "created_at"]
    config: dict[str, Any] = {name: getattr(result, name) for name in fields}
    config.update(_flatten("compute", result.compute.model_dump()))
    config.update(_flatten("provenance", result.provenance.model_dump()))
    return config


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, sub in value.items() for k, v in _flatten(f"{prefix}.{key}", sub).items()}
    return {prefix: value}


def _summary(result: Result) -> dict[str, Any]:
    summary: dict[str, Any] = dict(result.metrics)
    summary.update(
        score=result.score,
        normalized_score=result.normalized_score,
        ci_low=result.ci[0] if result.ci else None,
        ci_high=result.ci[1] if result.ci else None,
        n=result.n,
        primary_metric=result.primary_metric,
        status=result.status,
        error=result.error,
    )
    return {k: v for k, v in summary.items() if v is not None}  # absent beats null in W&B charts


# ----------------------------------------------------------------------------------------------------
# Reading offline runs back. wandb 0.31 has no Python reader any more (the old wandb.sdk.internal.datastore
# is gone; wandb-core in Go writes and syncs the file), so this parses the format directly: a 7-byte file
# header, then LevelDB-log blocks of 32 KiB holding chunks of serialized `Record` protobufs.

_HEADER = struct.Struct("<4sHB")  # ident b":W&B", magic 0xBEE1, version 0
_CHUNK = struct.Struct("<IHB")  # crc32 over (type byte + data), data length, chunk type
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def _records(data: bytes) -> list[bytes]:
    """The complete records in ``data``; a chunk still being written at the end is left out."""
    if len(data) < _HEADER.size:
        return []
    ident, magic, version = _HEADER.unpack_from(data)
    if (ident, magic, version) != (b":W&B", 0xBEE1, 0):
        raise ValueError(f"not a W&B transaction log (header {ident!r}, {magic:#x}, {version})")
    records, pending, pos = [], b"", _HEADER.size
    while pos + _CHUNK.size <= len(data):
        if _BLOCK - pos % _BLOCK < _CHUNK.size:  # block tail too short for a chunk header: zero padding
            pos += _BLOCK - pos % _BLOCK
            continue
        crc, length, kind = _CHUNK.unpack_from(data, pos)
        chunk = data[pos + _CHUNK.size : pos + _CHUNK.size + length]
        pos += _CHUNK.size + length
        if kind == 0 and length == 0:  # zero padding at the end of a block
            continue
        if len(chunk) < length:
            break
        if zlib.crc32(chunk, zlib.crc32(bytes([kind]))) != crc:
            raise ValueError(f"corrupt chunk before byte {pos}")
        pending = chunk if kind in (_FULL, _FIRST) else pending + chunk
        if kind in (_FULL, _LAST):
            records.append(pending)
            pending = b""
    return records


def _assign(target: dict, item: Any) -> None:
    """Store an item's JSON value; nested keys (wandb-core splits e.g. a logged Table's fields) nest dicts."""
    *parents, last = list(item.nested_key) or [item.key]
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = json.loads(item.value_json)


def read_offline_run(run_dir: Path, wait_s: float = 10.0) -> dict[str, Any]:
    """Parse the ``run-*.wandb`` file under an offline run folder.

    Returns ``run`` (id, name, project, group, job_type, tags), ``config`` and ``summary`` (final values,
    later updates winning), ``history`` (one dict per logged step), ``files`` (paths saved with the run),
    ``record_types`` (the kind of every record, in order) and ``complete`` (the run's exit record is there).

    ``run.finish()`` can return before wandb-core has flushed the file's tail, so this re-reads the file
    for up to ``wait_s`` seconds until the exit record shows up.
    """
    (path,) = Path(run_dir).glob("run-*.wandb")
    deadline = time.monotonic() + wait_s
    while True:
        out = _parse_run_file(path.read_bytes())
        if out["complete"] or time.monotonic() >= deadline:
            return out
        time.sleep(0.05)


def _parse_run_file(data: bytes) -> dict[str, Any]:
    from wandb.proto import wandb_internal_pb2 as pb

    out: dict[str, Any] = {"run": {}, "config": {}, "summary": {}}
    out.update(history=[], files=[], record_types=[])
    for raw in _records(data):
        record = pb.Record()
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        out["record_types"].append(kind)
        if kind == "run":
            run = record.run
            out["run"] = {"id": run.run_id, "name": run.display_name, "project": run.project,
                          "group": run.run_group, "job_type": run.job_type, "tags": list(run.tags)}
            for item in run.config.update:
                _assign(out["config"], item)
        elif kind == "config":
            for item in record.config.update:
                _assign(out["config"], item)
        elif kind == "summary":
            for item in record.summary.update:
                _assign(out["summary"], item)
            for item in record.summary.remove:  # top-level removals only; mirl never removes keys
                out["summary"].pop(item.key, None)
        elif kind == "history":
            step: dict[str, Any] = {}
            for item in record.history.item:
                _assign(step, item)
            out["history"].append(step)
        elif kind == "files":
            out["files"].extend(f.path for f in record.files.files)
    out["complete"] = "exit" in out["record_types"]
    return out
