"""The example suite of the testing kit (examples/testing, the README's "Testing kit") passes, run as a
user runs it: its own pytest.ini and conftest.py, in a pytest process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "testing"


@pytest.mark.timeout(150)
def test_the_example_suite_passes() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(EXAMPLE), "-p", "no:cacheprovider"],
        cwd=EXAMPLE.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "4 passed" in done.stdout, output
    assert f"rootdir: {EXAMPLE}" in done.stdout, output  # its own pytest.ini, not the project's settings
