"""Plugin loading: one pluggy manager, filled from the ``mirl`` entry-point group, and the registries it feeds.

``load_plugins()`` is idempotent. ``MIRL_LOAD_PLUGINS`` (comma-separated entry-point names) is an allow-list;
``MIRL_DISABLE_PLUGINS`` a block-list. Built-in tasks and methods come through the same entry points
(``smoke``, ``baselines``), so blocking them works the same way.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import pluggy

from mirl import hookspecs
from mirl.errors import MirlError, PluginError
from mirl.registry import Registry

ENTRY_POINT_GROUP = "mirl"


@dataclass
class PluginRecord:
    """What ``mirl plugins`` reports about one plugin."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    error: str | None = None


def _env_list(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _method_key(method: Any) -> str:
    return method.info.name


def _task_key(task: Any) -> str:
    return task.spec.id


def _agent_key(agent: Any) -> str:
    return agent.id


class PluginHost:
    """Owns the plugin manager and builds the task and method registries from it on demand."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self._entry_points_loaded = False
        self._tasks: Registry | None = None
        self._methods: Registry | None = None
        self._agents: Registry | None = None

    # -- loading -------------------------------------------------------------------------------------
    def load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        allow = _env_list("MIRL_LOAD_PLUGINS")
        block = _env_list("MIRL_DISABLE_PLUGINS") or set()
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in self.records or (allow is not None and ep.name not in allow) or ep.name in block:
                continue
            dist = getattr(ep, "dist", None)
            record = PluginRecord(
                name=ep.name,
                module=ep.value,
                distribution=dist.metadata["Name"] if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken third-party plugin must not take the others down
                record.error = f"{type(exc).__name__}: {exc}"
                self.records[ep.name] = record
                print(
                    f"mirl: plugin {ep.name!r} ({ep.value}) failed to import ({record.error}); skipped. "
                    f"Fix or uninstall it, or set MIRL_DISABLE_PLUGINS={ep.name}",
                    file=sys.stderr,
                )
                continue
            self._register(plugin, record)
        self.pm.check_pending()

    def register_plugin(self, plugin: Any, name: str, version: str | None = None) -> None:
        """Register a plugin object directly (tests, notebooks); same checks as an entry point."""
        module = getattr(plugin, "__name__", type(plugin).__name__)
        self._register(plugin, PluginRecord(name=name, module=module, version=version))
        self.pm.check_pending()

    def unregister_plugin(self, name: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin, name=name)
        self.records.pop(name, None)
        self._invalidate()

    def _register(self, plugin: Any, record: PluginRecord) -> None:
        if self.pm.get_plugin(record.name) is not None or record.name in self.records:
            raise PluginError(f"a plugin named {record.name!r} is already registered; pick another name")
        self.pm.register(plugin, name=record.name)
        record.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        self.records[record.name] = record
        self._invalidate()

    def _invalidate(self) -> None:
        self._tasks = None
        self._methods = None
        self._agents = None

    # -- registries ----------------------------------------------------------------------------------
    def _collect(self, hook_name: str, registry: Registry) -> Registry:
        caller = getattr(self.pm.hook, hook_name)
        # Call implementations one by one so that each registration knows which plugin made it.
        for impl in caller.get_hookimpls():  # in registration order
            def register(item: Any, _provider: str = impl.plugin_name) -> Any:
                registry.add(item, provider=_provider)
                return item

            kwargs = {"register": register}
            try:
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            except MirlError:  # duplicate ids and the like already name the plugins
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} failed in {hook_name}: {type(exc).__name__}: {exc}; "
                    f"fix it or set MIRL_DISABLE_PLUGINS={impl.plugin_name}"
                ) from exc
        registry.freeze()
        return registry

    @property
    def tasks(self) -> Registry:
        if self._tasks is None:
            self._tasks = self._collect("register_tasks", Registry("task", _task_key))
        return self._tasks

    @property
    def methods(self) -> Registry:
        if self._methods is None:
            self._methods = self._collect("register_methods", Registry("method", _method_key))
        return self._methods


    @property
    def agents(self) -> Registry:
        if self._agents is None:
            self._agents = self._collect("register_agents", Registry("agent", _agent_key))
        return self._agents


host = PluginHost()


def load_plugins() -> PluginHost:
    """Load every installed ``mirl`` plugin once (idempotent) and return the host holding the registries."""
    host.load_entry_points()
    return host


def get_tasks() -> Registry:
    return load_plugins().tasks


def get_methods() -> Registry:
    return load_plugins().methods


def get_agents() -> Registry:
    return load_plugins().agents


def plugin_records() -> list[PluginRecord]:
    load_plugins()
    return [host.records[name] for name in sorted(host.records)]

