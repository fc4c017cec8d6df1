"""mirl.sealed: a function run in a worker forked from a warm template comes back as an answer or as a one-line
reason, whatever it does (raise, exit, crash, hang, eat memory, print, start a child), and leaves no process.

Every fault here is bounded on its own: the memory bomb allocates at most 2.5 GB in all against a 1 GB cap,
the hangs sleep at most 60 s against a 1 s budget, so that a missing guard fails the test, not the machine."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mirl.sealed import Template
from processes import alive, descendants, marked


# -- what the worker runs (module level: the template imports this module to unpickle them) ------------------


def honest(n):
    print("a print goes to stderr, not into the answer")
    return {"kind": "unit_scores", "scores": {"h": np.arange(n, dtype=np.float64)}}


def raises():
    raise ValueError("no answer today")


def exits():
    os._exit(3)


def crashes():
    import ctypes

    ctypes.string_at(0)  # reads address 0: SIGSEGV


def hangs():
    time.sleep(60)


def eats_memory():
    blocks = []
    for _ in range(20):  # 20 × 128 MB at most, against a 1 GB cap
        blocks.append(np.ones(2**24))
    return {"blocks": len(blocks)}


# What a method starts carries a marker in its command line (tests/processes.py: its pid may be a namespace's)
def starts_a_child_and_hangs(marker):
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    Path(marker).write_text("started")
    time.sleep(60)


def leaves_a_child_in_a_session_of_its_own(marker):
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker], start_new_session=True)
    Path(marker).write_text("started")
    return {"answered": 1}


def leaves_a_double_forked_daemon(marker):
    # the middle process exits at once: the daemon, in a session of its own, has no parent left in the worker
    code = ("import os, time\nos.setsid()\nif os.fork():\n    os._exit(0)\n"
            f"open({marker!r}, 'w').write('started')\ntime.sleep(60)")
    subprocess.run([sys.executable, "-c", code, marker], check=True)
    while not Path(marker).exists():
        time.sleep(0.01)
    return {"answered": 1}


def leaves_a_daemon_and_hangs(marker):
    leaves_a_double_forked_daemon(marker)
    time.sleep(60)


def returns_a_function():
    return {"scores": honest}


def reads_the_environment():
    return {"keys": sorted(os.environ)}


def asks_the_parent(n):
    from mirl.sealed import request

    doubled = request("double", values=np.arange(n, dtype=np.float32))
    return {"doubled": doubled, "tag": request("tag")}


def asks_what_the_parent_refuses():
    from mirl.sealed import request

    request("refuse", n=0)


def asks_and_never_reads_the_reply():
    from mirl import sealed, wire

    wire.write_frame(sealed._CHANNEL, wire.encode_answer({sealed.REQUEST_KEY: "big", "kwargs": {}}))
    time.sleep(60)


def serve(name, kwargs):
    from mirl.errors import BudgetExceededError

    if name == "double":
        return kwargs["values"] * 2
    if name == "tag":
        return ("a tuple", 1)  # replies are pickled: any object the parent chooses to send
    if name == "big":
        return np.zeros(2**26, dtype=np.uint8)  # 64 MB: more than a socket buffers
    raise BudgetExceededError(f"budget exceeded: {name} asked for n={kwargs['n']}")


# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template():
    with Template() as t:
        yield t


def test_an_honest_function_answers_through_the_frame(template):
    outcome = template.call(honest, 5, wall_seconds=30)
    assert outcome.ok, outcome.error
    assert outcome.answer["kind"] == "unit_scores"
    np.testing.assert_array_equal(outcome.answer["scores"]["h"], np.arange(5.0))


@pytest.mark.parametrize("fn, reason", [
    (raises, r"method raised ValueError at test_sealed.py:\d+: no answer today"),
    (exits, "exited with code 3 before answering"),
    (crashes, "killed by SIGSEGV"),
    (returns_a_function, "cannot leave the method's process"),
])
def test_faults_become_one_line_reasons(template, fn, reason):
    outcome = template.call(fn, wall_seconds=30)
    assert not outcome.ok and outcome.answer is None
    assert "\n" not in outcome.error
    import re

    assert re.search(reason, outcome.error), outcome.error
    assert template.call(honest, 2, wall_seconds=30).ok  # and the template goes on


def test_a_crash_is_named_where_a_library_turns_segfaults_into_aborts():
    with Template(preload=("numpy", "pygame")) as pygame_loaded:  # pygame's "parachute" handler calls abort()
        outcome = pygame_loaded.call(crashes, wall_seconds=30)
    assert outcome.error == "the method's process was killed by SIGSEGV (a crash in native code)", outcome.error


def test_a_hang_ends_at_the_budget_plus_grace(template):
    outcome = template.call(hangs, wall_seconds=1.0)
    assert outcome.error == "budget exceeded: still running after 2 s (wall budget 1 s)"
    assert outcome.seconds < 5


def test_memory_over_the_cap_is_a_failed_run(template):
    outcome = template.call(eats_memory, wall_seconds=60, memory_bytes=2**30)
    assert outcome.error == "out of memory: over the 1 GiB cap on the method's process", outcome.error


@pytest.fixture
def drop_box():
    """A folder any user may write to (pytest's own are its user's only): a worker that switched to an unprivileged
    user (where mirl runs as root and that user can read Python) leaves its notes there."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="mirl-test-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def gone(marker: str, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while marked(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not marked(marker)


def test_a_child_the_method_started_dies_with_its_worker(template, drop_box):
    marker = str(drop_box / "child")
    outcome = template.call(starts_a_child_and_hangs, marker, wall_seconds=1.0)
    assert outcome.error.startswith("budget exceeded")
    assert Path(marker).exists() and gone(marker)


@pytest.mark.parametrize("fn", [leaves_a_child_in_a_session_of_its_own, leaves_a_double_forked_daemon])
def test_what_the_method_started_outside_its_session_is_gone_when_the_call_returns(template, drop_box, fn):
    """Out of the worker's session, the group kill misses them; the template adopts them (a subreaper) and kills
    them before it reports the worker's end."""
    marker = str(drop_box / "escaped")
    outcome = template.call(fn, marker, wall_seconds=30)
    assert outcome.ok, outcome.error
    assert Path(marker).exists() and not marked(marker)
    assert template.call(honest, 2, wall_seconds=30).ok


def test_the_worker_sees_only_allowed_variables(monkeypatch):
    monkeypatch.setenv("MIRL_TEST_SALT", "a secret")
    with Template() as template:
        outcome = template.call(reads_the_environment, wall_seconds=30)
    assert outcome.ok, outcome.error
    assert "MIRL_TEST_SALT" not in outcome.answer["keys"] and "WANDB_MODE" not in outcome.answer["keys"]


def test_an_answer_over_the_cap_is_refused(template):
    outcome = template.call(honest, 2**20, wall_seconds=30, max_answer_bytes=2**20)  # 8 MB of float64
    assert not outcome.ok and "over the 1,048,576-byte cap" in outcome.error
    assert template.call(honest, 2, wall_seconds=30).ok


def test_the_worker_asks_the_parent_for_what_only_the_parent_holds(template):
    outcome = template.call(asks_the_parent, 4, wall_seconds=30, serve=serve)
    assert outcome.ok, outcome.error
    np.testing.assert_array_equal(outcome.answer["doubled"], np.arange(4, dtype=np.float32) * 2)
    assert outcome.answer["doubled"].dtype == np.float32 and outcome.answer["tag"] == ["a tuple", 1]


def test_a_refused_request_fails_the_method_with_the_parents_reason(template):
    outcome = template.call(asks_what_the_parent_refuses, wall_seconds=30, serve=serve)
    assert outcome.error == "budget exceeded: refuse asked for n=0"
    outcome = template.call(asks_the_parent, 2, wall_seconds=30)  # a call that serves nothing
    assert outcome.error.startswith("method raised RuntimeError") and "serves no requests" in outcome.error


def test_a_worker_that_stops_reading_cannot_hold_the_parent(template):
    outcome = template.call(asks_and_never_reads_the_reply, wall_seconds=1.0, serve=serve)
    assert outcome.error.startswith("budget exceeded") and outcome.seconds < 5, outcome
    assert template.call(honest, 2, wall_seconds=30).ok


def test_a_function_defined_in_a_test_runs_too(template):
    offset = 3

    def local(n):
        return {"values": np.arange(n) + offset}

    outcome = template.call(local, 2, wall_seconds=30)
    assert outcome.ok, outcome.error
    np.testing.assert_array_equal(outcome.answer["values"], [3, 4])


def test_a_killed_parent_takes_its_template_and_worker_with_it_and_where_it_can_what_escaped_them(drop_box):
    """A ``kill -9`` of mirl: PR_SET_PDEATHSIG ends its template and the template's end its worker; a daemon the
    method left (out of the worker's session and tree) dies too where the template is process 1 of a pid
    namespace of its own (as root), since the kernel ends a namespace with its process 1."""
    marker, namespace_file = str(drop_box / "daemon"), drop_box / "namespace"
    script = (f"import sys; sys.path[:0] = {sys.path!r}\n"
              "from pathlib import Path\nfrom mirl.sealed import Template\n"
              "from test_sealed import leaves_a_daemon_and_hangs\n"
              f"box = Path({str(drop_box)!r})\ntemplate = Template()\n"
              "(box / 'namespace').write_text(str(template.pid_namespace))\n"
              "template.call(leaves_a_daemon_and_hangs, str(box / 'daemon'), wall_seconds=60)\n")  # no marker here
    parent = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)  # its own session: ours to kill
    try:
        deadline = time.monotonic() + 60
        while not (Path(marker).exists() and marked(marker)) and time.monotonic() < deadline:
            time.sleep(0.05)
        escaped = marked(marker)  # in a session of its own, adopted by the template (a subreaper, or process 1)
        helpers = [pid for pid in descendants(parent.pid) if pid not in escaped]  # the template(s), the worker
        assert len(helpers) >= 2 and escaped
    finally:
        parent.kill()  # SIGKILL: no atexit, no close()
        parent.wait()
    deadline = time.monotonic() + 5
    while any(map(alive, helpers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in helpers if alive(pid)]
    if namespace_file.read_text() == "True":
        assert gone(marker)
    else:  # outside a namespace of its own the daemon outlives the template (it ends its 60 s sleep on its own)
        assert marked(marker)


def test_a_template_says_whether_its_workers_run_as_a_user_of_their_own():
    with Template() as template:
        if os.geteuid() != 0:
            assert not template.own_user and "does not run as root" in template.same_user_reason
        elif template.own_user:  # they do: a worker is that user
            import pwd

            outcome = template.call(os.getuid, wall_seconds=10)
            assert outcome.answer == pwd.getpwnam("nobody").pw_uid
        else:  # as here when Python lives where that user cannot read (/root/.pyenv under a 0700 /root)
            assert "cannot read" in template.same_user_reason or "no user" in template.same_user_reason


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can switch a process to another user")
def test_a_process_switched_to_nobody_cannot_read_the_salt_file_or_our_environment(tmp_path):
    """What a worker that switched users cannot read (the same switch as mirl.sealed's): a 0600 salt file of
    mirl's user, mirl's environment and memory. Checked in a forked child of this test (bounded, its own session)."""
    import pwd

    from mirl.sealed import _switch_user

    salt = tmp_path / "salt"
    salt.write_text("secret")
    salt.chmod(0o600)
    nobody = pwd.getpwnam("nobody")
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setsid()
            _switch_user(nobody.pw_uid, nobody.pw_gid)
            readable = []
            for path in (str(salt), f"/proc/{parent}/environ", f"/proc/{parent}/mem"):
                try:
                    with open(path, "rb") as f:
                        f.read(1)
                    readable.append(path)
                except OSError:
                    pass
            code = 0 if not readable else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
