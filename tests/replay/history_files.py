"""The committed histories (``tests/replay/histories``) and readers of their events, shared by the
replay tests and the tests of each history's shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ductape_jobs.codec.encryption import encrypted_converter
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.event_types import ACTIVITY_BEFORE_INPUT_NAMED_IT
from tests.conftest import TEST_KEYRING

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
PLAINTEXT_ACCEPTED = encrypted_converter(TEST_KEYRING, accept_plaintext=True)
RUN_ACTION = ACTIVITY_BEFORE_INPUT_NAMED_IT[JobEventType.ACTION]


def history(name: str) -> Path:
    return Path(__file__).parent / "histories" / f"job_workflow_{name}.json"


def events(path: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """The history's events, or only those of one type (``"TIMER_STARTED"``)."""
    found: list[dict[str, Any]] = json.loads(path.read_text())["events"]
    return [e for e in found if kind is None or e["eventType"] == f"EVENT_TYPE_{kind}"]


def event_types(path: Path) -> list[str]:
    return [e["eventType"].removeprefix("EVENT_TYPE_") for e in events(path)]


def scheduled_activities(path: Path) -> list[str]:
    return [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in events(path, "ACTIVITY_TASK_SCHEDULED")
    ]
