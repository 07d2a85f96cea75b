"""The package's import graph, read from the source: every ``import`` of one of its modules by another,
at module level, under ``if TYPE_CHECKING:`` or inside a function (a cycle is a cycle in the design even
when Python can load it)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"starter": "ductape_jobs", "workflows": "ductape_jobs.workflows", "activities": "ductape_jobs.activities"}


def modules() -> dict[str, Path]:
    """Every module of the package by its installed name."""
    found: dict[str, Path] = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def _imported(tree: ast.Module, known: set[str]) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from package import module`` names a module; ``from module import name`` its module.
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            if name in known:
                yield name
                break


def _with_parents(importer: str, names: set[str], known: set[str]) -> set[str]:
    """Importing ``a.b.c`` from outside ``a.b`` runs ``a.b``'s ``__init__`` first: an edge too (from
    inside, the package is already initialising). The root package is left out: its ``__init__``
    imports nothing at run time (PEP 562)."""
    found = set(names)
    for name in names:
        parts = name.split(".")
        parents = {".".join(parts[:i]) for i in range(2, len(parts))}
        found |= {p for p in parents & known if not importer.startswith(p + ".")}
    return found


def graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports."""
    found = modules()
    known = set(found)
    return {
        name: _with_parents(name, set(_imported(ast.parse(path.read_text()), known)), known) - {name}
        for name, path in found.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return result
