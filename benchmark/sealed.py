"""Running a function sealed off from the scorer: a warm template process forks one worker per call.

The template is a separate interpreter started once (its own session, an environment built from an
allow-list), with numpy, torch and mirl imported, holding no task. For each call the parent sends it the
function and its arguments (pickled: parent → worker only); the template forks a worker, which starts its own
session, switches to an unprivileged user where it can (``UNPRIVILEGED_USER``, where mirl runs as root and that
user can read the interpreter and its packages: ``Template.own_user``), caps its memory with ``RLIMIT_DATA``, points
its stdout at stderr (a ``print`` cannot corrupt the answer), runs the function and writes the result as a
``mirl.wire`` frame on a socket of its own. The template hands the socket's other end to the parent (``SCM_RIGHTS``)
and, when the worker ends, its exit status. The parent reads the frame against the wall deadline, then tells the
template to end the worker (``END_WORKER``), done or not: the template kills the worker's session, then, a
subreaper, whatever of the worker's left that session (``_kill_adopted``), before it reports the end. Where mirl
runs as root the template is process 1 of a pid namespace of its own (``_own_pid_namespace``): should the template
itself be killed (a ``kill -9`` of mirl ends it through ``PR_SET_PDEATHSIG``), the kernel ends every process in it.

While it runs, the function may ask the parent for what only the parent holds (``request(name, **kwargs)``: the
train split, train environments): the request travels as a ``mirl.wire`` frame like an answer, the parent's
``serve(name, kwargs)`` answers it, and the reply comes back pickled (parent → worker only, as the call did).

Every way a worker can end is an ``Outcome``: an answer tree, or a one-line reason (raised, exited, killed by a
signal, out of memory, over time, a malformed or oversized frame). Nothing here raises for the function's fault.
Facts behind the design: ``shared/notes/sealed-worker.md`` (a forked worker costs ~0.2 s; a fresh interpreter
~2 s, almost all ``import torch``).
"""

from __future__ import annotations

import json
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
# Where mirl runs as root, workers switch to this user: it cannot read mirl's memory, environment or salt file.
UNPRIVILEGED_USER = "nobody"
ENV_ALLOW = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONHASHSEED",
             "VIRTUAL_ENV", "MIRL_HOME")
GRACE_SECONDS = 1.0  # past the wall budget before the worker's group is killed
CRASH_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE)
STATUS = struct.Struct(">qqd")  # (pid, wait status, CPU seconds) sent by the template when a worker ends
END_WORKER = b"K"  # mirl → template, once it has read a worker's answer (or given up on it): end that worker now
MESSAGE = struct.Struct(">Q")  # length prefix of a request
# Linux's unshare(2) flags and mount(2) flags, for the template's pid and mount namespaces
CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
ERROR_KEY = "__mirl_error__"  # a worker's frame {ERROR_KEY: one line} says why there is no answer
REQUEST_KEY = "__mirl_request__"  # a worker's frame {REQUEST_KEY: name, "kwargs": {...}} asks the parent's serve()
# Exceptions a reply may carry back into the worker by name (anything else arrives as a RuntimeError), so that a
# method fails with the same one-line reason as on the in-process path.
REPLY_ERRORS = ("MirlError", "BudgetExceededError", "InvalidAnswerError", "NotImplementedError", "ValueError",
                "KeyError", "TypeError")


@dataclass
class Outcome:
    """What a sealed call came to: ``answer`` (the decoded tree) or ``error`` (one line), and its wall time."""

    answer: Any = None
    error: str | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    """User + system CPU time of the worker process (its rusage, measured by the template, not reported by it)."""

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
             f"_template_main({theirs.fileno()}, sys.argv[1:], {os.getpid()})", *preload],
            pass_fds=[theirs.fileno()], env=env, start_new_session=True, stdin=subprocess.DEVNULL)
        theirs.close()
        self._ready = False  # its imports (~2-4 s) overlap the caller's work until the first call waits for them

    def _wait_ready(self) -> None:
        if not self._ready:
            if self._sock.recv(1) != b"R":
                raise RuntimeError(f"the sealed template process did not start (exit code {self._process.wait()}); "
                                   "its error is on stderr above")
            (length,) = MESSAGE.unpack(_recv_exactly(self._sock, MESSAGE.size))
            self._isolation = json.loads(_recv_exactly(self._sock, length))
            self._ready = True

    @property
    def own_user(self) -> bool:
        """Whether workers run as an unprivileged user of their own (``nobody``), which cannot read this process's
        memory or environment, nor a salt file only its user may read. Otherwise they run as this process's
        user (``same_user_reason`` says why): their own process, but not a barrier."""
        self._wait_ready()
        return self._isolation["user"] is not None

    @property
    def same_user_reason(self) -> str | None:
        self._wait_ready()
        return self._isolation["reason"]

    @property
    def pid_namespace(self) -> bool:
        """Whether the template is process 1 of a pid namespace of its own (where mirl runs as root): when it
        ends, however (a ``kill -9`` of mirl included), the kernel kills every process in it, so that nothing a
        method started outlives it. Otherwise what escapes a worker's session is killed when the worker ends, but
        a ``kill -9`` of mirl at that moment would leave it running."""
        self._wait_ready()
        return self._isolation["pid_namespace"]

    @property
    def alive(self) -> bool:
        return self._process.poll() is None and self._sock.fileno() != -1

    def __enter__(self) -> Template:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()  # the template exits at end of file
        if not self._ready and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)  # never used: no reason to wait for its imports
        if self._process.poll() is None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)  # its own session, started above
                self._process.wait()

    def call(self, fn: Callable[..., Any], *args: Any, wall_seconds: float, memory_bytes: int | None = None,
             max_answer_bytes: int = wire.MAX_ANSWER_BYTES,
             serve: Callable[[str, dict[str, Any]], Any] | None = None, imports: tuple[str, ...] = ()) -> Outcome:
        """``fn(*args)`` in a fresh worker. ``serve(name, kwargs)`` answers the worker's ``request``s (its
        exceptions go back to be raised there); the time it takes counts against ``wall_seconds``. ``imports``
        are modules the template imports before it forks (once each), so that no worker pays for them."""
        self._wait_ready()
        started = time.monotonic()
        request = _dumps((fn, args, memory_bytes))
        modules = json.dumps(list(imports)).encode()
        self._sock.sendall(MESSAGE.pack(len(modules)) + modules + MESSAGE.pack(len(request)) + request)
        _, fds, _, _ = socket.recv_fds(self._sock, 1, 1)  # one byte: what follows is the pid
        if len(fds) != 1:
            raise RuntimeError(f"the sealed template process ended (exit code {self._process.poll()})")
        (answer_fd,) = fds
        (pid,) = struct.unpack(">q", _recv_exactly(self._sock, 8))
        outcome = Outcome()
        try:
            deadline = started + wall_seconds + GRACE_SECONDS
            answer = wire.decode_answer(wire.read_frame(answer_fd, deadline, max_answer_bytes))
            while isinstance(answer, dict) and REQUEST_KEY in answer:
                _reply(answer_fd, serve, answer, deadline)
                answer = wire.decode_answer(wire.read_frame(answer_fd, deadline, max_answer_bytes))
            if isinstance(answer, dict) and set(answer) == {ERROR_KEY}:
                outcome.error = str(answer[ERROR_KEY])
            else:
                outcome.answer = answer
        except wire.FrameLate:
            outcome.error = (f"budget exceeded: still running after {wall_seconds + GRACE_SECONDS:g} s "
                             f"(wall budget {wall_seconds:g} s)")
        except wire.FrameCut:
            outcome.error = ""  # worded from the exit status below
        except wire.FrameError as exc:
            outcome.error = str(exc)
        finally:
            os.close(answer_fd)
            self._sock.sendall(END_WORKER)  # the template kills the worker's session, done or not (its pids, not ours)
        status_pid, status, outcome.cpu_seconds = STATUS.unpack(_recv_exactly(self._sock, STATUS.size))
        if status_pid != pid:
            raise RuntimeError(f"the sealed template reported worker {status_pid}, not {pid}")
        if outcome.error == "":
            outcome.error = _ended(status)
        outcome.seconds = time.monotonic() - started
        return outcome


def _dumps(obj: Any) -> bytes:
    """cloudpickle (by value where a function or class cannot be imported by name: a test's or a notebook's own
    method), keeping each function's file name, which cloudpickle blanks and a failed result names."""
    import io
    import types
    from collections import ChainMap

    import cloudpickle

    def code_keeping_its_file(code: types.CodeType) -> Any:
        constructor, args = cloudpickle.cloudpickle._code_reduce(code)
        return constructor, tuple(code.co_filename if a == "<dynamic-code>" else a for a in args)

    class Pickler(cloudpickle.Pickler):
        dispatch_table = ChainMap({types.CodeType: code_keeping_its_file}, cloudpickle.Pickler.dispatch_table)

    buffer = io.BytesIO()
    Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def _reply(fd: int, serve: Callable[[str, dict[str, Any]], Any] | None, request: dict[str, Any],
           deadline: float) -> None:
    """Answer one request of the worker: ("ok", value) or ("error", exception type name, one line)."""
    name, kwargs = request.get(REQUEST_KEY), request.get("kwargs", {})
    try:
        if serve is None:
            raise RuntimeError("this sealed call serves no requests")
        if not isinstance(name, str) or not isinstance(kwargs, dict):
            raise TypeError("a request names a service (a string) and passes keyword arguments (a dict)")
        reply = ("ok", serve(name, kwargs))
    except Exception as exc:  # the worker's problem to raise, never the parent's
        message = str(exc).splitlines()[0] if str(exc) else ""
        reply = ("error", type(exc).__name__, message)
    # pickle protocol 5 with the arrays out of band: the train split (GBs on some tasks) is written straight from
    # the arrays' memory, and the worker reads each into one buffer of its own that its arrays then wrap
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(reply, protocol=5, buffer_callback=buffers.append)
    raw = [b.raw() for b in buffers]
    header = struct.pack(f">QQ{len(raw)}Q", len(data), len(raw), *(r.nbytes for r in raw))
    wire.write_frame(fd, header + data, deadline)
    for buffer in raw:
        wire.write_frame(fd, buffer, deadline)


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
        return f"the method's process was killed by {name}" + (" (a crash in native code)" if sig in CRASH_SIGNALS
                                                               else "")
    return f"the method's process exited with code {os.WEXITSTATUS(status)} before answering"


def _read_exactly(fd: int, n: int, closed: str) -> bytearray:
    """``n`` bytes from ``fd``, read in place (a request holds the agents' weights, a reply the train split: no
    chunk is copied twice); RuntimeError(``closed``) if the other end closes first."""
    data = bytearray(n)
    view, have = memoryview(data), 0
    while have < n:
        got = os.readv(fd, [view[have:]])
        if not got:
            raise RuntimeError(closed)
        have += got
    return data


def _recv_exactly(sock: socket.socket, n: int) -> bytearray:
    return _read_exactly(sock.fileno(), n, "the sealed template process ended")


# -- inside the template and its workers ------------------------------------------------------------------


def _die_with_parent(parent: int | None) -> None:
    """Be killed when the process that started this one ends (``PR_SET_PDEATHSIG``): a ``kill -9`` of mirl takes
    its template with it, and the template's end takes its worker. ``parent`` None: a parent in another pid
    namespace (its pid is not ours to compare), which the caller checks is still there another way."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent is not None and os.getppid() != parent:  # it ended before the request took hold
        os._exit(1)


def _adopt_orphans() -> None:
    """Become the parent of every orphaned descendant (``PR_SET_CHILD_SUBREAPER``) rather than leave them to
    process 1: a process the method started that left the worker's session (``setsid``, a double fork) escapes the
    kill of that session, but not the template, which kills what it adopted when the worker ends."""
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _kill_adopted() -> None:
    """Kill and reap every child of this template: between calls it has none of its own, so each is something an
    ended worker left behind. Killing one orphans its own children, adopted in turn: repeat until none is left."""
    me, spared = os.getpid(), set()
    while children := [pid for pid in _children_of(me) if pid not in spared]:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except PermissionError:  # a set-user-id program outranks us: it is left, never waited for
                spared.add(pid)
            except (ProcessLookupError, ChildProcessError):
                pass


def _children_of(parent: int) -> list[int]:
    children = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()  # after the command, which may hold spaces
            except OSError:  # ended meanwhile
                continue
            if int(fields[1]) == parent:
                children.append(int(entry.name))
    return children


def _own_pid_namespace(fd: int) -> str | None:
    """Make the template process 1 of a pid namespace of its own, with a /proc of its own: when process 1 ends, for
    any reason (mirl's end, or a ``kill -9`` of mirl through ``PR_SET_PDEATHSIG``), the kernel kills every process
    in the namespace, so that nothing a method started outlives the template however it left the worker's session;
    and the template's and workers' pids and /proc agree, in the namespace. This process forks that template and
    stays, as mirl's child, until it ends. Needs root (CAP_SYS_ADMIN). Returns None in the template, or why not (this
    process then is the template, outside any namespace of its own, as before)."""
    if os.geteuid() != 0:
        return "mirl does not run as root"
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    own = os.open("/proc/self/ns/pid", os.O_RDONLY)
    if libc.unshare(CLONE_NEWPID | CLONE_NEWNS) != 0:  # no CAP_SYS_ADMIN here (a container, say)
        os.close(own)
        return f"unshare failed: {os.strerror(ctypes.get_errno())}"
    ready, mounted = os.pipe()
    pid = os.fork()
    if pid == 0:  # process 1 of the new namespace
        os.close(own)
        os.close(ready)
        _die_with_parent(None)  # its parent is outside the namespace: the write below fails if it has gone
        # mounts made here stay here, and this namespace's /proc lists its own processes by its own pids
        if (libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0
                or libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) != 0):
            os._exit(1)
        try:
            os.write(mounted, b"1")
        except BrokenPipeError:
            os._exit(1)
        os.close(mounted)
        return None
    os.close(mounted)
    template_ready = os.read(ready, 1) == b"1"
    os.close(ready)
    if not template_ready:
        os.waitpid(pid, 0)
        if libc.setns(own, CLONE_NEWPID) != 0:  # this process's later children in its own pid namespace again
            raise OSError(ctypes.get_errno(), "could not return to mirl's pid namespace after a failed mount")
        os.close(own)
        return "mounting /proc in a namespace of its own failed"
    os.close(own)
    os.close(fd)  # the channel is the template's
    _, status = os.waitpid(pid, 0)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def _template_main(fd: int, preload: list[str], parent: int) -> None:
    import importlib

    _die_with_parent(parent)
    namespace_reason = _own_pid_namespace(fd)  # from here on, this process is the template (in it, or not)
    _adopt_orphans()
    for name in preload:  # "module" to import, or "module:function" to import and call
        module, _, function = name.partition(":")
        imported = importlib.import_module(module)
        if function:
            getattr(imported, function)()
    drop, reason = _unprivileged_user()
    sock = socket.socket(fileno=fd)
    isolation = json.dumps({"user": UNPRIVILEGED_USER if drop else None, "reason": reason,
                            "pid_namespace": namespace_reason is None, "namespace_reason": namespace_reason}).encode()
    sock.sendall(b"R" + MESSAGE.pack(len(isolation)) + isolation)
    while True:
        header = sock.recv(MESSAGE.size, socket.MSG_WAITALL)
        if len(header) < MESSAGE.size:
            return
        (length,) = MESSAGE.unpack(header)
        for module in json.loads(_read_exactly(fd, length, "mirl closed the template's channel")):
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 — the worker will meet the same error where it matters, and say so
                pass
        (length,) = MESSAGE.unpack(_read_exactly(fd, MESSAGE.size, "mirl closed the template's channel"))
        request = _read_exactly(fd, length, "mirl closed the template's channel")
        parent_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        template = os.getpid()
        pid = os.fork()
        if pid == 0:
            _die_with_parent(template)
            sock.close()
            parent_end.close()
            _worker(request, worker_end.detach(), drop, template)  # never returns
        worker_end.close()
        socket.send_fds(sock, [b"F"], [parent_end.fileno()])
        sock.sendall(struct.pack(">q", pid))
        parent_end.close()
        sock.recv(1)  # END_WORKER, or the end of the channel: mirl is done with this worker either way
        _kill_group(pid)
        _, status, usage = os.wait4(pid, 0)
        _kill_adopted()
        try:
            sock.sendall(STATUS.pack(pid, status, usage.ru_utime + usage.ru_stime))
        except OSError:  # mirl has gone
            return


_CHANNEL: int | None = None  # in a worker: its socket to the parent


def request(name: str, **kwargs: Any) -> Any:
    """Inside a sealed worker: ask the parent's ``serve`` for ``name`` with ``kwargs`` (numbers, strings, arrays,
    nested in dicts and lists); its exception, if it raised, is raised here."""
    if _CHANNEL is None:
        raise RuntimeError("mirl.sealed.request works only inside a sealed worker")
    wire.write_frame(_CHANNEL, wire.encode_answer({REQUEST_KEY: name, "kwargs": kwargs}))
    length, count = struct.unpack(">QQ", _read_from_parent(16))
    sizes = struct.unpack(f">{count}Q", _read_from_parent(8 * count))
    data = _read_from_parent(length)
    buffers = [_read_from_parent(size) for size in sizes]
    reply = pickle.loads(data, buffers=buffers)  # from the parent, which pickled the call too
    if reply[0] == "ok":
        return reply[1]
    _, kind, message = reply
    raise _reply_error(kind)(message)


def _reply_error(kind: str) -> type[BaseException]:
    import builtins

    from mirl import errors

    if kind in REPLY_ERRORS:
        return getattr(errors, kind, None) or getattr(builtins, kind)
    return RuntimeError


def _read_from_parent(n: int) -> bytearray:
    return _read_exactly(_CHANNEL, n, "the parent closed the sealed worker's channel")


def _unprivileged_user() -> tuple[tuple[int, int] | None, str | None]:
    """In the template: the (uid, gid) its workers switch to, or None and why they stay this process's user. Only
    root can switch; the unprivileged user must be able to read the interpreter and its packages, since a method
    imports what the template has not (a probe child switches and checks before any worker does)."""
    if os.geteuid() != 0:
        return None, "mirl does not run as root, so its workers cannot switch to another user"
    import pwd

    try:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        return None, f"this system has no user {UNPRIVILEGED_USER!r}"
    import site

    # where this Python and its packages live: what a method's lazy imports read (an unreadable entry elsewhere on
    # sys.path, such as the working directory, is skipped by the import system, not an error)
    paths = sorted({os.path.realpath(sys.executable), *(p for p in site.getsitepackages() if os.path.isdir(p)),
                    *(os.path.dirname(m.__file__) for m in list(sys.modules.values())
                      if isinstance(getattr(m, "__file__", None), str) and os.path.isabs(m.__file__))})
    readable, writable = os.pipe()
    pid = os.fork()
    if pid == 0:  # the probe: switch as a worker would, then report the first path it cannot read
        code = 1
        try:
            os.close(readable)
            _switch_user(user.pw_uid, user.pw_gid)
            blocked = [p for p in paths if not os.access(p, os.R_OK | os.X_OK if os.path.isdir(p) else os.R_OK)]
            os.write(writable, json.dumps(blocked[:1]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(writable)
    with os.fdopen(readable, "rb") as pipe:
        report = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not report:
        return None, f"switching to user {UNPRIVILEGED_USER!r} failed"
    blocked = json.loads(report)
    if blocked:
        return None, f"user {UNPRIVILEGED_USER!r} cannot read {blocked[0]}, where this Python or its packages live"
    return (user.pw_uid, user.pw_gid), None


def _switch_user(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def _worker(request: bytes, answer_fd: int, drop: tuple[int, int] | None = None, template: int | None = None) -> None:
    global _CHANNEL
    _CHANNEL = answer_fd
    code = 0
    try:
        os.setsid()
        if drop is not None:
            _switch_user(*drop)
            _die_with_parent(template)  # a change of user clears the parent-death signal: set it again
        os.dup2(2, 1)  # print() goes to stderr, never into the answer channel
        fn, args, memory_bytes = pickle.loads(request)
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file (nor what was in memory)
        if memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
        for crash in CRASH_SIGNALS:  # a library's handler (pygame's "parachute" aborts) must not hide what happened
            signal.signal(crash, signal.SIG_DFL)
        try:
            frame = wire.encode_answer(fn(*args))
        except MemoryError:
            frame = wire.encode_answer({ERROR_KEY: f"out of memory: over the {(memory_bytes or 0) / 2**30:g} GiB cap "
                                                   "on the method's process"})
        except BaseException as exc:  # the function's fault (or an answer that cannot leave): reported, never raised
            frame = wire.encode_answer({ERROR_KEY: one_line(exc)})
        wire.write_frame(answer_fd, frame)
    except BaseException:  # noqa: BLE001 — a worker must never return into the template's loop
        code = 70
    finally:
        os._exit(code)
