"""DESIGN.md's dependency rules, read off the source: an AST walk over every module of the distribution builds
the graph of its ``mirl.*`` imports (at any depth: an import inside a function is a dependency too) and fails on
a circle or on a room importing one it must not:

- ``mirl`` (benchmark/) never imports ``mirl.tasks`` or ``mirl.plugins``: tasks and methods arrive through
  entry points;
- ``mirl.plugins`` never imports ``mirl.tasks``: a method sees a task only through its view;
- ``mirl.tasks`` never imports ``mirl.plugins``: a task depends on no particular method;
- ``mirl.leaderboards`` knows results, not tasks or methods.

A method that needs a family's code (the maze family's behavioural reference) is registered by that family."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOMS = {"mirl": "benchmark", "mirl.tasks": "tasks", "mirl.plugins": "plugins", "mirl.leaderboards": "leaderboards"}
FORBIDDEN = {"mirl": ("mirl.tasks", "mirl.plugins"), "mirl.plugins": ("mirl.tasks",), "mirl.tasks": ("mirl.plugins",),
             "mirl.leaderboards": ("mirl.tasks", "mirl.plugins")}


def module_files() -> dict[str, Path]:
    """Every module of the distribution by its import name (``package-dir`` maps the folders onto ``mirl``)."""
    modules = {}
    for name, folder in ROOMS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((name, *parts))] = path
    return modules


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The ``mirl`` modules ``module`` imports, anywhere in its body, each resolved to the module it names (or
    the package, for ``from package import name`` where ``name`` is not a module)."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import mirl.x.y.attr` style: the longest module prefix
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {module: imports_of(module, path, set(files)) for module, path in files.items()}


def room(module: str) -> str:
    return next((r for r in sorted(ROOMS, key=len, reverse=True) if module == r or module.startswith(r + ".")))


def circles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Each strongly connected component of more than one module (Tarjan), as a sorted tuple."""
    index, low, stack, on_stack, found = {}, {}, [], set(), set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.add(tuple(sorted(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_walk_finds_every_room_and_the_imports_it_knows_of():
    graph = import_graph()
    assert {room(m) for m in graph} == set(ROOMS)
    assert "mirl.schemas" in graph["mirl.runner"]  # a top-level import
    assert "mirl.reference" in graph["mirl.runner"]  # one inside a function
    assert "mirl.tasks.smoke.env" in graph["mirl.tasks.smoke.tasks"] or "mirl.tasks.smoke.env" in graph["mirl.tasks.smoke"]


def test_the_circle_finder_finds_a_planted_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {("a", "b", "c")}
    assert circles({"a": {"b"}, "b": set()}) == set()


def test_no_import_circles():
    found = circles(import_graph())
    assert not found, (f"import circle(s) {sorted(found)}: move what both sides need down a level (a family's card "
                       "code lives in card.py, which may import its tasks; agent.py imports none of them)")


def test_no_room_imports_one_it_must_not():
    graph = import_graph()
    breaks = sorted((module, target) for module, targets in graph.items() for target in targets
                    if room(target) in FORBIDDEN[room(module)])
    assert not breaks, (f"{breaks} break DESIGN.md's dependency rules: reach tasks and methods through the "
                        "registries and the task view (a method that needs a family's code is that family's to register)")


def test_a_forbidden_import_is_found():
    graph = {"mirl.runner": {"mirl.tasks.maze.env"}, "mirl.plugins.probes.linear": {"mirl.probes"}}
    assert [(m, t) for m, ts in graph.items() for t in ts if room(t) in FORBIDDEN[room(m)]] == \
        [("mirl.runner", "mirl.tasks.maze.env")]
