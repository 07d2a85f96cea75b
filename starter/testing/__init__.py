"""A testing kit for users' own suites (``pip install 'ductape-jobs[testing]'``): the product's worker
on Temporal's time-skipping server (``ductape_test_env``), a local HTTP target that records calls
(``HttpTarget``), and helpers for a job's occurrences, its retries and the replay of its histories.
The pytest fixtures are in ``ductape_jobs.testing.pytest_plugin``."""

from __future__ import annotations

from ductape_jobs.testing.attempts import ActivityAttempts, activity_attempts, assert_attempts
from ductape_jobs.testing.environment import (
    DuctapeTestEnv,
    TestServerMissingError,
    ductape_test_env,
    test_server_binary,
    time_skipping_env,
)
from ductape_jobs.testing.occurrences import assert_occurrences, occurrences
from ductape_jobs.testing.replay import HistoryReplayError, replay_histories, save_history
from ductape_jobs.testing.target import HttpTarget, Received

__all__ = [
    "ActivityAttempts",
    "DuctapeTestEnv",
    "HistoryReplayError",
    "HttpTarget",
    "Received",
    "TestServerMissingError",
    "activity_attempts",
    "assert_attempts",
    "assert_occurrences",
    "ductape_test_env",
    "occurrences",
    "replay_histories",
    "save_history",
    "test_server_binary",
    "time_skipping_env",
]
