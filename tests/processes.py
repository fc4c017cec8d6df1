"""Processes as this test process sees them (its /proc, its pids): what the sealed-worker tests check is gone.

A sealed template may be process 1 of a pid namespace of its own, where a method's pids differ from ours: what a
method starts is found here by a marker in its command line, never by a pid it reports."""

from __future__ import annotations

import os


def _stat(pid: int | str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()  # state, parent pid, ... (the command may hold spaces)
    except OSError:
        return None


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in "ZX"  # a zombie has ended; only its parent's wait is missing


def children(pid: int) -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()
            and (stat := _stat(entry)) is not None and int(stat[1]) == pid and stat[0] not in "ZX"]


def descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        found += (frontier := [child for parent in frontier for child in children(parent)])
    return found


def marked(marker: str) -> list[int]:
    """The live processes whose command line holds ``marker``."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and entry != str(os.getpid()):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read() and alive(int(entry)):
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def workers_left(template) -> list[int]:
    """What runs under a sealed ``Template`` besides the template itself (its namespace's process 1, where it has
    one, is the child of the process mirl started)."""
    started = template._process.pid
    left = descendants(started)
    return [pid for pid in left if pid not in children(started)] if template.pid_namespace else left
