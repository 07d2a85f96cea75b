"""Under ``CI=true`` a skipped test is a failed test.

On a laptop a test skips, saying why, when a local service, the browser or the FalkorDB build is
missing; CI installs and starts all of them, so there a skip can only mean a broken setup that
would otherwise pass in silence. One hook (imported by tests/conftest.py) instead of a check in
every helper that skips.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

CI_REASON = "skipped under CI=true, where every test must run"


def under_ci() -> bool:
    return os.environ.get("CI") == "true"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # An xfail is reported as a skip with `wasxfail`: it is a decision written in the test, not a gap.
    if report.skipped and not hasattr(report, "wasxfail") and under_ci():
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        report.outcome = "failed"
        report.longrepr = f"{CI_REASON}: {reason.removeprefix('Skipped: ')}"
    return report
