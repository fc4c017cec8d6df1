"""Running a function sealed off from the scorer: a warm template process forks one worker per call.

The template is a separate interpreter started once (its own session, an environment built from an
allow-list), with numpy, torch and mirl imported, holding no task. For each call the parent sends it the
function and its arguments (pickled: parent → worker only); the template forks a worker, which starts its own
session, caps its memory with ``RLIMIT_DATA``, points its stdout at stderr (a ``print`` cannot corrupt the
answer), runs the function and writes the result as a ``mirl.wire`` frame on a pipe of its own. The template
hands the pipe's read end to the parent (``SCM_RIGHTS``) and, when the worker ends, its exit status. The parent
reads the frame against the wall deadline, then kills the worker's whole process group, done or not.

Every way a worker can end is an ``Outcome``: an answer tree, or a one-line reason (raised, exited, killed by a
signal, out of memory, over time, a malformed or oversized frame). Nothing here raises for the function's fault.
Facts behind the design: ``shared/notes/sealed-worker.md`` (a forked worker costs ~0.2 s; a fresh interpreter
~2 s, almost all ``import torch``).
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from mirl import wire
from mirl.errors import one_line

# Variables a worker may see: what Python, torch and the C libraries need to run; never mirl's secrets.
ENV_ALLOW = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONHASHSEED",
             "VIRTUAL_ENV", "MIRL_HOME")
GRACE_SECONDS = 1.0  # past the wall budget before the worker's group is killed
STATUS = struct.Struct(">qq")  # (pid, wait status) sent by the template when a worker ends
MESSAGE = struct.Struct(">Q")  # length prefix of a request
ERROR_KEY = "__mirl_error__"  # a worker's frame {ERROR_KEY: one line} says why there is no answer


@dataclass
class Outcome:
    """What a sealed call came to: ``answer`` (the decoded tree) or ``error`` (one line), and its wall time."""

    answer: Any = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class Template:
    """A warm interpreter that forks workers. Use as a context manager; ``call(fn, *args, ...)`` per run."""

    def __init__(self, preload: tuple[str, ...] = ("numpy", "torch", "mirl.schemas", "mirl.wire")):
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # the parent's imports, nothing else
        self._process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from mirl.sealed import _template_main; "
             f"_template_main({theirs.fileno()}, sys.argv[1:])", *preload],
            pass_fds=[theirs.fileno()], env=env, start_new_session=True, stdin=subprocess.DEVNULL)
        theirs.close()
        if self._sock.recv(1) != b"R":
            raise RuntimeError(f"the sealed template process did not start (exit code {self._process.wait()}); "
                               "its error is on stderr above")

    def __enter__(self) -> Template:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()  # the template exits at end of file
        if self._process.poll() is None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)  # its own session, started above
                self._process.wait()

    def call(self, fn: Callable[..., Any], *args: Any, wall_seconds: float, memory_bytes: int | None = None,
             max_answer_bytes: int = wire.MAX_ANSWER_BYTES) -> Outcome:
        started = time.monotonic()
        request = pickle.dumps((fn, args, memory_bytes))
        self._sock.sendall(MESSAGE.pack(len(request)) + request)
        _, fds, _, _ = socket.recv_fds(self._sock, 1, 1)  # one byte: what follows is the pid
        if len(fds) != 1:
            raise RuntimeError(f"the sealed template process ended (exit code {self._process.poll()})")
        (answer_fd,) = fds
        (pid,) = struct.unpack(">q", _recv_exactly(self._sock, 8))
        outcome = Outcome()
        try:
            answer = wire.decode_answer(
                wire.read_frame(answer_fd, started + wall_seconds + GRACE_SECONDS, max_answer_bytes))
            if isinstance(answer, dict) and set(answer) == {ERROR_KEY}:
                outcome.error = str(answer[ERROR_KEY])
            else:
                outcome.answer = answer
        except wire.FrameLate:
            outcome.error = f"budget exceeded: still running after {wall_seconds + GRACE_SECONDS:g} s"
        except wire.FrameCut:
            outcome.error = ""  # worded from the exit status below
        except wire.FrameError as exc:
            outcome.error = str(exc)
        finally:
            os.close(answer_fd)
            _kill_group(pid)
        status_pid, status = STATUS.unpack(_recv_exactly(self._sock, STATUS.size))
        if status_pid != pid:
            raise RuntimeError(f"the sealed template reported worker {status_pid}, not {pid}")
        if outcome.error == "":
            outcome.error = _ended(status)
        outcome.seconds = time.monotonic() - started
        return outcome


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the worker's own session (it called setsid), whatever it started
    except ProcessLookupError:
        pass


def _ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"the method's process was killed by {name}" + (" (a crash in native code)" if sig == signal.SIGSEGV
                                                               else "")
    return f"the method's process exited with code {os.WEXITSTATUS(status)} before answering"


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise RuntimeError("the sealed template process ended")
        data += chunk
    return data


# -- inside the template and its workers ------------------------------------------------------------------


def _template_main(fd: int, preload: list[str]) -> None:
    import importlib

    for name in preload:
        importlib.import_module(name)
    sock = socket.socket(fileno=fd)
    sock.sendall(b"R")
    while True:
        header = sock.recv(MESSAGE.size, socket.MSG_WAITALL)
        if len(header) < MESSAGE.size:
            return
        (length,) = MESSAGE.unpack(header)
        request = _recv_exactly(sock, length)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            sock.close()
            os.close(read_end)
            _worker(request, write_end)  # never returns
        os.close(write_end)
        socket.send_fds(sock, [b"F"], [read_end])
        sock.sendall(struct.pack(">q", pid))
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
        sock.sendall(STATUS.pack(pid, status))


def _worker(request: bytes, answer_fd: int) -> None:
    code = 0
    try:
        os.setsid()
        os.dup2(2, 1)  # print() goes to stderr, never into the answer channel
        fn, args, memory_bytes = pickle.loads(request)
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file (nor what was in memory)
        if memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
        try:
            frame = wire.encode_answer(fn(*args))
        except MemoryError:
            frame = wire.encode_answer({ERROR_KEY: f"out of memory (over the {memory_bytes or 0:,}-byte cap)"})
        except BaseException as exc:  # the function's fault (or an answer that cannot leave): reported, never raised
            frame = wire.encode_answer({ERROR_KEY: one_line(exc)})
        wire.write_frame(answer_fd, frame)
    except BaseException:  # noqa: BLE001 — a worker must never return into the template's loop
        code = 70
    finally:
        os._exit(code)
