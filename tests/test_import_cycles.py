"""No import circles anywhere in hark (checked per package too): an interface module never
imports its implementations (a factory that needs all of them lives in a module of its own)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def import_graph() -> dict[str, set[str]]:
    """Module -> the hark modules it imports anywhere in its body (function-level imports
    count: a lazy import is still a circle). Package `__init__` modules are left out: they
    re-export, they do not implement."""
    files = {
        ".".join(f.relative_to(SRC).with_suffix("").parts): f
        for f in SRC.rglob("*.py")
        if f.name != "__init__.py"
    }
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        graph[module] = {name for name in names if name in files and name != module}
    return graph


def reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module == goal:
            return True
        if module not in seen:
            seen.add(module)
            todo.extend(graph[module])
    return False


@pytest.mark.parametrize("package", ["hark", "hark.jobs", "hark.diarize"])
def test_no_import_circle(package: str) -> None:
    graph = import_graph()
    inside = sorted(m for m in graph if m.startswith(package + "."))
    assert len(inside) > 3
    circles = [
        (a, b)
        for a in inside
        for b in graph[a]
        if b.startswith(package + ".") and reaches(graph, b, a)
    ]
    assert circles == []


def test_the_factories_import_every_backend() -> None:
    graph = import_graph()
    assert {"hark.jobs.sqlite_store", "hark.jobs.redis_store"} <= graph["hark.jobs.backends"]
    assert {"hark.diarize.embedding", "hark.diarize.ge2e"} <= graph["hark.diarize.embedding_models"]
