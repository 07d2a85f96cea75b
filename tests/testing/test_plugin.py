"""The pytest plugin without a product config says what to define, instead of failing somewhere inside."""

from __future__ import annotations

import pytest

NO_CONFIG = """
async def test_needs_a_config(ductape):
    pass
"""


def test_a_suite_without_ductape_config_is_told_how_to_define_it(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(NO_CONFIG)
    result = pytester.runpytest_subprocess("-p", "ductape_jobs.testing.pytest_plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a `ductape_config` fixture in your conftest.py*"])
