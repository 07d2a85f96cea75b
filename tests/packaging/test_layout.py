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


def test_a_package_init_counts_for_modules_outside_it() -> None:
    """``planning.recurrence`` importing ``scheduling.calendars`` ran ``scheduling/__init__``, which
    imported ``planning.recurrence``: a cycle that failed at import though no module named the other."""
    from tests.support.import_graph import _with_parents

    known = {"p.a", "p.b", "p.b.c"}
    assert _with_parents("p.a", {"p.b.c"}, known) == {"p.b.c", "p.b"}
    assert _with_parents("p.b.d", {"p.b.c"}, known) == {"p.b.c"}


def test_the_cycle_finder_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_is_over_about_400_lines() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {name: size for name, size in sizes.items() if size > MAX_LINES} == {}
