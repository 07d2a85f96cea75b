"""The code's shape: no import cycle anywhere in the package, and small modules."""

from __future__ import annotations

from tests.support.import_graph import cycles, graph, modules

MAX_LINES = 420
"""About 400 lines: a module past it holds more than one role."""


def test_the_package_has_no_import_cycle() -> None:
    edges = graph()
    assert len(edges) > 100  # the scan does see the package
    assert sum(len(targets) for targets in edges.values()) > 300
    assert cycles(edges) == []


def test_the_cycle_finder_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_is_over_about_400_lines() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {name: size for name, size in sizes.items() if size > MAX_LINES} == {}
