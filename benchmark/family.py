"""One way for a task family to register: ``family_hooks`` makes a family package's pluggy hooks from where its
tasks and agent specs live, imported only when mirl asks for them (listing tasks must not import an agent's torch).

    # tasks/<family>/__init__.py
    from mirl.family import family_hooks

    register_tasks, register_agents = family_hooks(__name__, agents="card:agent_specs")
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable

from mirl.hookspecs import hookimpl


def _load(package: str, where: str) -> list:
    """``module:attribute`` inside ``package``: a list, or a function returning one."""
    module, _, name = where.partition(":")
    value = getattr(import_module(f"{package}.{module}"), name)
    return list(value() if callable(value) else value)


def family_hooks(package: str, tasks: str = "tasks:TASKS", agents: str | None = None) -> tuple[Callable[..., Any], ...]:
    """(register_tasks, register_agents) for the family package ``package`` (pass its ``__name__``): ``tasks`` and
    ``agents`` name ``module:attribute`` inside it (agents: the specs with their card measure attached)."""

    @hookimpl
    def register_tasks(register):
        for task in _load(package, tasks):
            register(task)

    @hookimpl
    def register_agents(register):
        for spec in _load(package, agents) if agents else ():
            register(spec)

    return register_tasks, register_agents
