"""What ``pip install ductape-jobs[EXTRAS]`` holds, read from the installed packages' metadata, and a
Python process that can import only that.

The test venv holds every extra. Rather than build a venv per combination (a minute each), a child
interpreter is started with every module of the other distributions blocked in ``sys.modules``: an
``import`` of one raises the real ``ModuleNotFoundError`` an install without it would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "ductape-jobs"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(extras: Iterable[str] = ()) -> frozenset[str]:
    """The canonical names of the distributions ``ductape-jobs[extras]`` installs, itself included."""
    return _closure(frozenset(extras))


@cache
def _closure(extras: frozenset[str]) -> frozenset[str]:
    seen: dict[str, set[str]] = {}
    todo: list[tuple[str, frozenset[str]]] = [(PROJECT, extras)]
    while todo:
        name, wanted = todo.pop()
        known = seen.setdefault(name, set())
        if known and wanted <= known:
            continue  # already walked with these extras
        known.update(wanted, {""})
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": extra}) for extra in known):
                continue
            todo.append((canonical(requirement.name), frozenset(requirement.extras)))
    return frozenset(seen)


@cache
def _modules_of() -> dict[str, frozenset[str]]:
    return {module: frozenset(map(canonical, dists)) for module, dists in metadata.packages_distributions().items()}


def blocked_modules(extras: Iterable[str] = ()) -> list[str]:
    """Top-level modules of this venv that no distribution of ``ductape-jobs[extras]`` provides."""
    kept = closure(extras)
    return sorted(module for module, dists in _modules_of().items() if not dists & kept)


def importable_in(extras: Iterable[str]) -> set[str]:
    """Top-level modules an install of ``ductape-jobs[extras]`` provides (from this venv's metadata)."""
    kept = closure(extras)
    return {module for module, dists in _modules_of().items() if dists & kept}


_PRELUDE = """
import json, os, sys
for name in json.loads(os.environ.pop("DUCTAPE_TEST_BLOCKED")):
    if name not in sys.modules:
        sys.modules[name] = None
"""


def run_installed(
    code: str,
    *,
    extras: Sequence[str] = (),
    cwd: Path = ROOT,
    environ: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that sees only what ``ductape-jobs[extras]`` installs
    (with ``environ`` added to this process's environment)."""
    env = {**os.environ, **(environ or {}), "DUCTAPE_TEST_BLOCKED": json.dumps(blocked_modules(extras))}
    return subprocess.run(
        [sys.executable, "-c", _PRELUDE + code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def run_cli(
    argv: Sequence[str],
    *,
    extras: Sequence[str] = (),
    cwd: Path = ROOT,
    environ: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``ductape-jobs ARGV`` (its ``run``, which returns the exit code) in such an interpreter."""
    code = f"from ductape_jobs.cli.main import run\nraise SystemExit(run({list(argv)!r}))\n"
    return run_installed(code, extras=extras, cwd=cwd, environ=environ, timeout=timeout)
