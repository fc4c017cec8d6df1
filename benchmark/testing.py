"""Test kit for plugin authors (and mirl's own tests).

In a method package's tests::

    from mirl.testing import check_method
    from my_package import MyMethod

    def test_my_method_honours_the_mirl_contract():
        check_method(MyMethod)

and, to make a plugin visible to ``mirl.pluginhost`` for one test only, use the ``mirl_plugin`` fixture
(enable it with ``pytest_plugins = ["mirl.testing"]`` in your conftest)::

    def test_listed(mirl_plugin):
        mirl_plugin(my_plugin_module, name="mine")
        assert "my-method" in mirl.pluginhost.get_methods()
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Iterator

import pytest

from mirl.pluginhost import get_tasks, host, load_plugins
from mirl.schemas import MethodInfo, Result
from mirl.task import Task
from mirl.tasklib import ReadoutTask


@contextlib.contextmanager
def registered_plugin(plugin: Any, name: str) -> Iterator[None]:
    """Register ``plugin`` (a module or object with @hookimpl functions) under ``name`` for a block."""
    load_plugins()
    host.register_plugin(plugin, name=name)
    try:
        yield
    finally:
        host.unregister_plugin(name)


@pytest.fixture
def mirl_plugin():
    """Call it with (plugin, name) to register a plugin for the current test; it is removed afterwards."""
    stack = contextlib.ExitStack()

    def register(plugin: Any, name: str = "test-plugin") -> None:
        stack.enter_context(registered_plugin(plugin, name))

    with stack:
        yield register


def resized(task: Task, train_size: int | None = None, test_size: int | None = None) -> Task:
    """A copy of ``task`` with smaller splits, for tests of an expensive task (its scores are noisier; it keeps
    the task's id, so never store its results). Only tasks whose splits follow ``spec.train_size`` and
    ``spec.test_size`` shrink; a task on fixed shipped levels is unchanged by it."""
    small = copy.copy(task)
    update = {k: v for k, v in (("train_size", train_size), ("test_size", test_size)) if v is not None}
    small.spec = task.spec.model_copy(update=update)
    return small


def check_method(method: Any, seed: int = 0, task_ids: list[str] | None = None,
                 tasks: list[Task] | None = None) -> list[Result]:
    """The method contract, run against the smoke tasks the method can answer (or the registered tasks named in
    ``task_ids``, for a method restricted to another family, or the Task objects in ``tasks``, e.g. ``resized``
    ones).

    Checks: ``info`` is a valid MethodInfo; every answer validates and scores (status ok); the same seed
    gives an identical answer, byte for byte as it leaves a sealed worker (``mirl.wire``), run sealed and
    in-process, and so identical scores, as scoring is seeded (determinism). Returns the scored results of the
    first (sealed) run.
    """
    from mirl.runner import evaluate

    info = getattr(method, "info", None)
    assert isinstance(info, MethodInfo), f"{method!r}.info must be a mirl.schemas.MethodInfo, got {info!r}"
    tasks = [
        t for t in (get_tasks() if tasks is None else tasks)
        if (tasks is not None or (t.spec.family == "smoke" if task_ids is None else t.spec.id in task_ids))
        and method.supports(t.spec.answer_kind, t.spec.family, t.spec.offers)
    ]
    assert tasks, f"method {info.name!r} answers none of the smoke tasks; it needs at least one to be checked"
    results = []
    for task in tasks:
        first = solve_twice_alike(task, method, seed)
        result = evaluate(task, method, seed=seed, solution=first)
        assert result.status == "ok", f"{info.name} on {task.spec.id} failed: {result.error}"
        assert result.score is not None and result.ci is not None and result.ci[0] <= result.ci[1]
        results.append(result)
    return results


def solve_twice_alike(task: Task, method: Any, seed: int = 0):
    """``method`` solves ``task`` as mirl runs it (sealed, unless MIRL_IN_PROCESS=1), then again in this process;
    both must succeed with the same answer, byte for byte as it leaves a worker (``mirl.wire``): the scorer is
    seeded and deterministic, so the same answer is the same scores, and a sealed run answers as an in-process
    one. Returns the first solution (no scoring: ``mirl.runner.evaluate(..., solution=)`` scores it)."""
    from mirl.runner import solve
    from mirl.wire import encode_answer

    name, task_id = method.info.name, task.spec.id
    first = solve(task, method, seed=seed)
    assert first.error is None, f"{name} on {task_id} failed: {first.error}"
    again = solve(task, method, seed=seed, sealed=False)
    assert again.error is None, f"{name} on {task_id} failed in-process: {again.error}"
    same = encode_answer(again.answer) == encode_answer(first.answer)  # a bool: pytest would diff the bytes
    assert same, (
        f"{name} on {task_id} is not deterministic for seed {seed}: two runs answered differently "
        f"({'sealed, then in-process' if first.sealed else 'both in-process'}); draw randomness from view.rng"
    )
    return first


HEAVY_MODULES = ("torch", "gym", "gymnasium", "procgen", "open_spiel", "transformer_lens")


def check_task(task: Task, seed: int = 0, scoring: bool = True, method_names: tuple[str, ...] = ("random",),
               registration: bool = True, reference_at_least: float = 0.9, splits: bool = True) -> None:
    """The task contract, for a family's own tests (``resized`` copies keep it fast); raises AssertionError naming
    the first rule broken:

    - registering the family (the package of the task's module) imports none of ``HEAVY_MODULES`` (``mirl tasks``
      must stay fast; ``registration=False`` skips this, for a task defined outside a family package);
    - the pinned agent: its checkpoint matches the spec's sha256 and has every spec hook point, shaped as declared;
    - readout tasks (``mirl.tasklib.ReadoutTask``; ``splits=False`` skips this): the train split and the test split
      share no instance, and another salt draws other test states, not the same ones reordered. Instances are
      compared by the label a task names in ``instance_label`` (e.g. a level seed: where distinct levels can look
      alike), else by observation (right for fully observed environments);
    - ``scoring``: the methods ``method_names`` (default: the random baseline) and the task's reference answer
      (``oracle_answer``, where it has one) score twice alike on one seed; the reference's normalised score is at
      least ``reference_at_least``, its CI above each method's.
    """
    if registration:
        _check_registration(task)
    agent = task.load_agent()  # verifies the sha256 and the declared hook points
    if splits and isinstance(task, ReadoutTask):
        _check_splits(task, agent, seed)
    if scoring:
        _check_scores(task, seed, method_names, reference_at_least)


def _check_registration(task: Task) -> None:
    import os
    import subprocess
    import sys

    package = type(task).__module__.rpartition(".")[0]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    code = ("import importlib, sys; hooks = importlib.import_module(sys.argv[1]); tasks = []; "
            "hooks.register_tasks(tasks.append); "
            f"print(' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules)); print(len(tasks))")
    out = subprocess.run([sys.executable, "-c", code, package], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, f"registering {package} failed: {out.stderr.strip().splitlines()[-1:]}"
    heavy, count = out.stdout.splitlines()[-2:]
    assert not heavy, (f"registering {package}'s tasks imports {heavy}; import it inside the methods that need it "
                       "(listing tasks must stay fast)")
    assert int(count) > 0, f"{package}.register_tasks registers no task"


def _instance_keys(task: Task, states: Any) -> set:
    import numpy as np

    label = task.instance_label
    if label is not None:
        return set(np.asarray(states.labels[label]).tolist())
    obs = np.ascontiguousarray(states.obs)
    return {row.tobytes() for row in obs.reshape(len(obs), -1)}


def _check_splits(task: Task, agent: Any, seed: int) -> None:
    import os
    import tempfile
    from pathlib import Path

    from mirl.seeding import TEST_SALT_ENV, TEST_SALT_FILE_ENV, test_seed

    n = min(task.spec.train_size, 2000)
    what = task.instance_label or "observations"
    train = _instance_keys(task, task.view(seed).train_data(n, []))
    test_keys = _instance_keys(task, task.test_states(agent, test_seed(seed), []))
    shared = len(train & test_keys)
    assert not shared, (f"{task.spec.id}: {shared} of {len(test_keys)} distinct test {what} are also in the train "
                        f"split; draw the test split from instances a method never sees")
    saved = {k: os.environ.pop(k) for k in (TEST_SALT_ENV, TEST_SALT_FILE_ENV) if k in os.environ}
    with tempfile.TemporaryDirectory() as folder:
        salt = Path(folder) / "salt"
        salt.write_text("mirl.testing.check_task")
        salt.chmod(0o600)
        os.environ[TEST_SALT_FILE_ENV] = str(salt)
        try:
            salted = _instance_keys(task, task.test_states(agent, test_seed(seed), []))
        finally:
            os.environ.pop(TEST_SALT_FILE_ENV)
            os.environ.update(saved)
    assert salted != test_keys, (f"{task.spec.id}: another salt draws the same test states (at most reordered), so a "
                                 "private salt hides nothing; draw the test states from the seed it is given")


def _check_scores(task: Task, seed: int, method_names: tuple[str, ...], reference_at_least: float) -> None:
    from mirl.errors import MirlError
    from mirl.pluginhost import get_methods
    from mirl.runner import solve

    answers = {}
    for name in method_names:
        method = get_methods().get(name)
        if method.supports(task.spec.answer_kind, task.spec.family, task.spec.offers):
            solution = solve(task, method, seed=seed, sealed=False)
            assert solution.error is None, f"{name} could not answer {task.spec.id}: {solution.error}"
            answers[name] = solution.answer
    try:
        answers["reference"] = task.oracle_answer(task.view(seed))
    except MirlError:
        pass
    assert answers, f"{task.spec.id}: none of {list(method_names)} answers it and it has no reference answer"
    reports = {}
    for name, answer in answers.items():
        first, again = (task.score(task.validate_answer(answer), seed) for _ in range(2))
        assert (first.score, first.ci) == (again.score, again.ci), (
            f"{task.spec.id}: {name}'s answer scored {first.score} then {again.score} on seed {seed}; seed every "
            "draw of the scorer from the seed it is given")
        reports[name] = first
    reference = reports.pop("reference", None)
    if reference is not None:
        assert reference.normalized_score >= reference_at_least, (
            f"{task.spec.id}: the reference answer scores {reference.normalized_score:.3f} normalised, below "
            f"{reference_at_least}; check the floor and ceiling or the reference")
        for name, report in reports.items():
            assert report.ci[1] < reference.ci[0], (
                f"{task.spec.id}: {name}'s CI {report.ci} reaches the reference's {reference.ci}; the test set is too "
                "small to tell them apart")
