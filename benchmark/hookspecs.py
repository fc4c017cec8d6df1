"""The plugin contract: every hook mirl calls, in one module.

A plugin is a module (or object) with functions marked ``@hookimpl``, advertised through the entry-point
group ``mirl``::

    [project.entry-points.mirl]
    my_method = "my_package.mirl_plugin"

Hooks collect; they do not construct globals: mirl passes a ``register`` callable and owns the storage.
Hooks are always called with keyword arguments, so an implementation may accept fewer arguments than the
spec and the specs can grow new arguments without breaking old plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    from mirl.agents import AgentSpec
    from mirl.method import Method
    from mirl.task import Task

PROJECT = "mirl"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_methods(register: Callable[[type[Method] | Method], Any]) -> None:
    """Register interpretability methods: call ``register(MethodClass)`` (or an instance) once per method.

    A method's id is ``MethodClass.info.name``; registering an id that another plugin already registered
    is an error that names both plugins.

    .. versionadded:: 0.1.0
    """


@hookspec
def register_tasks(register: Callable[[Task], Any]) -> None:
    """Register benchmark tasks: call ``register(task)`` once per task (a ``mirl.task.Task`` instance).

    Registration must stay cheap: import torch, environments and checkpoints lazily, inside the task's
    methods, so that ``mirl tasks`` answers quickly.

    .. versionadded:: 0.1.0
    """


@hookspec
def register_agents(register: Callable[[AgentSpec], Any]) -> None:
    """Register the agents a family ships: call ``register(spec)`` with a ``mirl.agents.AgentSpec``.

    ``mirl agents list|verify|train`` work from these specs; tasks pin each agent's sha256 in their spec.

    .. versionadded:: 0.1.0
    """
