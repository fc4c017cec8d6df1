"""Methods that try what a determined cheater would (mirl's adversarial suite), on any task.

On smoke/goal-readout-v1 each answers perfectly (the planted goal channel, read out: what mirl's oracle returns)
only if its cheat worked, and otherwise gives the floor answer (an all-zero readout, which always says cell 0), so
its score says whether mirl's barrier held: ~1 normalised where it leaked, ~0 where it held. On every other task
it answers nothing (nothing to score, so the check costs no scoring): the run fails with "the cheat WORKED" or
"the cheat found nothing". None of them damages anything: a cheat that could write the store only opens it.
``cheat-family`` (smoke/goal-readout-v1 only) fails naming the test split it derived, for the test to compare.
"""

from __future__ import annotations

import gc
import inspect
import os
from pathlib import Path

import numpy as np

from mirl import hookimpl
from mirl.method import Method
from mirl.schemas import MethodInfo, Readout

__version__ = "0.1.0"

HOOK = "encoder.hook_out"
SCORED_TASK = "smoke/goal-readout-v1"  # the task where a cheat that worked shows in the score


def perfect(view) -> Readout:
    from mirl.tasks.smoke.agent import GOAL_CHANNEL

    cells = view.spec.output_dim
    weights = np.zeros((8, cells, cells))
    weights[GOAL_CHANNEL] = np.eye(cells)
    return Readout(weights={HOOK: weights.reshape(8 * cells, cells)}, bias=np.zeros(cells))


def floor(view) -> Readout:
    cells = view.spec.output_dim
    return Readout(weights={HOOK: np.zeros((8 * cells, cells))}, bias=np.zeros(cells))


class Cheater(Method):
    def cheat(self, view) -> bool:
        raise NotImplementedError

    def solve(self, view):
        found = self.cheat(view)
        if view.spec.id == SCORED_TASK:
            return perfect(view) if found else floor(view)
        raise RuntimeError(f"the cheat {'WORKED' if found else 'found nothing'}")


def _info(name: str, description: str) -> MethodInfo:
    return MethodInfo(name=name, version="1", description=description,
                      answer_kinds=["readout", "unit_scores", "intervention", "prediction", "agent_predictions"])


def _other_processes() -> list[Path]:
    _uncover_the_hosts_proc()
    own = {os.getpid()}
    return [p for p in Path("/proc").iterdir() if p.name.isdigit() and int(p.name) not in own]


def _uncover_the_hosts_proc() -> None:
    """Where mirl's template is process 1 of a pid namespace with a /proc of its own, mirl's other processes are
    not in that /proc; a worker that is still root (a partial seal) takes it away, in a mount namespace of its own,
    and reads the machine's /proc beneath. As any other user this fails (and so does nothing)."""
    import ctypes

    try:
        in_mirls_namespace = b"_template_main" in Path("/proc/1/cmdline").read_bytes()
    except OSError:
        return
    if in_mirls_namespace and os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        CLONE_NEWNS, MNT_DETACH = 0x00020000, 2
        if libc.unshare(CLONE_NEWNS) == 0:
            libc.umount2(b"/proc", MNT_DETACH)


class SaltFromEnvironments(Cheater):
    """The private salt from its own environment, every process's environment, and the file they name."""

    info = _info("cheat-salt", "reads the private salt from environments and the salt file")

    def cheat(self, view) -> bool:
        if os.environ.get("MIRL_TEST_SALT") or os.environ.get("MIRL_TEST_SALT_FILE"):
            return True
        for proc in _other_processes():
            try:
                variables = (proc / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for variable in variables:
                name, _, value = variable.partition(b"=")
                if name == b"MIRL_TEST_SALT" and value:
                    return True
                if name == b"MIRL_TEST_SALT_FILE":
                    try:
                        return bool(Path(os.fsdecode(value)).read_text().strip())
                    except OSError:
                        continue
        return False


class ScorerMemory(Cheater):
    """Reads a byte of the memory of any other process running mirl (the scorer holds the salt and the Task)."""

    info = _info("cheat-memory", "reads the scoring process's memory through /proc/PID/mem")

    def cheat(self, view) -> bool:
        for proc in _other_processes():
            try:
                if b"mirl" not in (proc / "cmdline").read_bytes():
                    continue
                first = (proc / "maps").read_text().splitlines()[0]
                with open(proc / "mem", "rb") as mem:
                    mem.seek(int(first.split("-")[0], 16))
                    if mem.read(1):
                        return True
            except (OSError, ValueError, IndexError):
                continue
        return False


class ObjectWalker(Cheater):
    """Looks through every live object and every caller's frame for the Task, a view holding it, or the store."""

    info = _info("cheat-objects", "walks gc.get_objects() and inspect.stack() for the Task, the scorer or the store")

    def cheat(self, view) -> bool:
        from mirl.leaderboards.store import ResultStore
        from mirl.task import Task, TaskView

        if hasattr(view, "_task"):
            return True
        for obj in gc.get_objects():
            if isinstance(obj, (TaskView, ResultStore)):
                return True
        for frame in inspect.stack():
            for value in frame.frame.f_locals.values():
                if isinstance(value, Task) or (isinstance(value, TaskView) and value is not view):
                    return True
        return False


class OracleCaller(Method):
    """Asks the view for the ground truth, as mirl's oracle gets it."""

    info = _info("cheat-oracle", "calls view.oracle_answer() and view._task.oracle_answer()")

    def solve(self, view):
        if hasattr(view, "_task"):
            return view._task.oracle_answer(view)
        return view.oracle_answer()


class FamilyCode(Method):
    """Imports the task's family (through mirl's registry, as the scorer does) and derives the test split from the
    run's seed with the family's own function. No answer to score: it fails naming a digest of the split it got,
    which the test compares with the real one (only smoke/goal-readout-v1 is tried)."""

    info = _info("cheat-family", "imports the family's code and derives the test split from the run's seed")

    def solve(self, view):
        from mirl.pluginhost import get_tasks

        from mirl.seeding import test_seed

        states = get_tasks().get(view.spec.id).test_states(view.agent, test_seed(view.seed), [])
        raise RuntimeError(f"the cheat derived a test split: {split_digest(states)}")


def split_digest(states) -> str:
    """A short hash of a smoke test split's (agent cell, goal cell) pairs."""
    import hashlib

    cells = (states.labels["agent_cell"], states.labels["goal_cell"])
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in cells)).hexdigest()[:16]


class StoreWriter(Cheater):
    """Opens the local leaderboard for writing (and writes nothing): a method that can could change any result."""

    info = _info("cheat-store", "opens MIRL_HOME's results and leaderboard for writing")

    def cheat(self, view) -> bool:
        home = os.environ.get("MIRL_HOME")
        if not home:
            return False
        for folder, _, files in os.walk(home):  # a folder it may not enter is skipped, not an error
            for name in files:
                try:
                    with open(os.path.join(folder, name), "r+b"):
                        return True
                except OSError:
                    continue
        return False


CHEATERS = (SaltFromEnvironments, ScorerMemory, ObjectWalker, OracleCaller, StoreWriter, FamilyCode)


@hookimpl
def register_methods(register):
    for cheater in CHEATERS:
        register(cheater)
