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
