"""Replays every committed ``JobWorkflow`` history against the current code.

A workflow change that alters its commands fails here unless it is guarded by ``workflow.patched``
(and comes with a new history from ``python -m tests.replay.record_histories``).
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from ductape_jobs.codec.converter import DATA_CONVERTER
from ductape_jobs.codec.encryption import PlaintextPayloadError
from ductape_jobs.worker.job_worker import WORKFLOWS
from ductape_jobs.worker.workflow_runner import WORKFLOW_RUNNER
from ductape_jobs.workflows.names import (
    RESOLVE_PLACEHOLDERS,
)
from tests.conftest import CONVERTER
from tests.replay.history_files import (
    HISTORIES,
    PLAINTEXT_ACCEPTED,
    RUN_ACTION,
    event_types,
    events,
    history,
    scheduled_activities,
)


def test_the_fixtures_are_all_there() -> None:
    assert {p.stem for p in HISTORIES} >= {
        "job_workflow_plain", "job_workflow_delayed", "job_workflow_with_session", "job_workflow_failed_404",
        "job_workflow_controlled", "job_workflow_delayed_v1_sleep", "job_workflow_with_events", "job_event_workflow",
        "job_workflow_function", "job_workflow_feature", "job_workflow_fallback", "job_workflow_notification",
        "job_workflow_armed", "job_workflow_armed_rescued", "job_workflow_armed_cron",
        "job_event_workflow_abandoned", "job_event_workflow_independent",
        "job_workflow_exact_plain", "job_workflow_exact_armed_held", "job_workflow_exact_armed_cancelled",
        "job_workflow_exact_armed_retried", "job_workflow_exact_cancel_refused",
        "job_workflow_cancelled_running", "job_workflow_armed_cancelled",
        "job_workflow_rate_limited", "job_workflow_concurrency", "concurrency_slots", "job_workflow_superseded",
        "job_audit", "job_workflow_missed", "target_pause",
    }  # fmt: skip


# The worker's runner passes our workflow package through the sandbox (starter/worker/workflow_runner.py);
# the SDK's stock sandbox re-imports it under its import-time restrictions, so every recorded path
# also proves the workflow code touches nothing the full sandbox forbids.
STOCK_SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("opentelemetry")
)
RUNNERS = {"worker_runner": WORKFLOW_RUNNER, "stock_sandbox": STOCK_SANDBOX}


@pytest.mark.parametrize("runner", RUNNERS.values(), ids=RUNNERS.keys())
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays_on_the_current_code(path: Path, runner: WorkflowRunner) -> None:
    # An encrypting converter refuses payloads in clear unless told (DUCTAPE_PLAINTEXT=1).
    converter = PLAINTEXT_ACCEPTED if path.stem.endswith("_unencrypted") else CONVERTER
    replayer = Replayer(workflows=WORKFLOWS, data_converter=converter, workflow_runner=runner)
    # The recorder's workflow IDs: the job workflow derives its event children's IDs from its own.
    workflow_id = "replay-" + path.stem.removeprefix("job_workflow_")
    await replayer.replay_workflow(WorkflowHistory.from_json(workflow_id, path.read_text()))


# A re-recording that loses a branch (no timer, no resolution, a retried 404) fails these.


def test_plain_job_has_one_activity_and_no_timer() -> None:
    counts = Counter(event_types(history("plain")))
    assert counts["TIMER_STARTED"] == 0
    assert counts["ACTIVITY_TASK_SCHEDULED"] == 1
    assert scheduled_activities(history("plain")) == [RUN_ACTION]
    assert event_types(history("plain"))[-1] == "WORKFLOW_EXECUTION_COMPLETED"


def test_delayed_job_sleeps_before_its_activity() -> None:
    types = event_types(history("delayed"))
    counts = Counter(types)
    assert (counts["TIMER_STARTED"], counts["TIMER_FIRED"], counts["ACTIVITY_TASK_SCHEDULED"]) == (1, 1, 1)
    assert types.index("TIMER_STARTED") < types.index("TIMER_FIRED") < types.index("ACTIVITY_TASK_SCHEDULED")
    assert scheduled_activities(history("delayed")) == [RUN_ACTION]
    assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"


def _seconds(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00")[:26] + "+00:00").timestamp()


def test_armed_job_hands_its_activity_the_wait() -> None:
    path = history("armed")
    counts = Counter(event_types(path))
    # Due in 3 s, within its lead: no timer, the activity scheduled at once, heartbeating while it waits.
    assert (counts["TIMER_STARTED"], counts["ACTIVITY_TASK_SCHEDULED"]) == (0, 1)
    (scheduled,) = events(path, "ACTIVITY_TASK_SCHEDULED")
    assert scheduled["activityTaskScheduledEventAttributes"]["heartbeatTimeout"] == "10s"
    (completed,) = events(path, "ACTIVITY_TASK_COMPLETED")
    assert _seconds(completed) - _seconds(scheduled) >= 2.0
    assert len(event_types(path)) == len(event_types(history("plain")))  # arming costs no history event


def test_armed_job_whose_worker_stopped_gets_its_attempt_back() -> None:
    path = history("armed_rescued")
    types = event_types(path)
    assert scheduled_activities(path) == [RUN_ACTION, RUN_ACTION]
    (failed,) = events(path, "ACTIVITY_TASK_FAILED")
    assert failed["activityTaskFailedEventAttributes"]["failure"]["applicationFailureInfo"]["type"] == (
        "ARMED_WAIT_INTERRUPTED"
    )
    first = events(path, "ACTIVITY_TASK_SCHEDULED")[0]["activityTaskScheduledEventAttributes"]
    assert first["retryPolicy"]["maximumAttempts"] == 1  # one attempt allowed, yet the job ran
    assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"


def test_armed_recurring_run_arms_for_its_nominal_time() -> None:
    """Started early by its schedule (``ductape_jobs.scheduling.recurring_arming``): the run's memo carries the shift,
    and the activity was handed out at once and waited for the nominal time."""
    path = history("armed_cron")
    (started,) = events(path, "WORKFLOW_EXECUTION_STARTED")
    attributes = started["workflowExecutionStartedEventAttributes"]
    assert {"arm_shift_s", "cron"} <= set(attributes["memo"]["fields"])
    assert "TemporalScheduledStartTime" in attributes["searchAttributes"]["indexedFields"]
    counts = Counter(event_types(path))
    assert (counts["TIMER_STARTED"], counts["ACTIVITY_TASK_SCHEDULED"]) == (0, 1)
    (scheduled,) = events(path, "ACTIVITY_TASK_SCHEDULED")
    assert scheduled["activityTaskScheduledEventAttributes"]["heartbeatTimeout"] == "10s"
    (completed,) = events(path, "ACTIVITY_TASK_COMPLETED")
    assert _seconds(completed) - _seconds(scheduled) >= 10.0  # its shift: 19 s for this job ID
    assert event_types(path)[-1] == "WORKFLOW_EXECUTION_COMPLETED"


def test_missed_run_records_why_and_runs_nothing() -> None:
    path = history("missed")
    assert scheduled_activities(path) == []
    assert "WORKFLOW_PROPERTIES_MODIFIED" in event_types(path)  # the memo's `missed` reason
    markers = [e["markerRecordedEventAttributes"]["markerName"] for e in events(path, "MARKER_RECORDED")]
    assert markers == ["core_patch"]


def test_session_job_resolves_before_it_runs() -> None:
    assert Counter(event_types(history("with_session")))["TIMER_STARTED"] == 0
    assert scheduled_activities(history("with_session")) == [RESOLVE_PLACEHOLDERS, RUN_ACTION]
    assert event_types(history("with_session"))[-1] == "WORKFLOW_EXECUTION_COMPLETED"


def test_404_job_made_one_attempt_and_failed() -> None:
    path = history("failed_404")
    types = event_types(path)
    assert types[-1] == "WORKFLOW_EXECUTION_FAILED"
    assert Counter(types)["ACTIVITY_TASK_FAILED"] == 1
    started = [e["activityTaskStartedEventAttributes"] for e in events(path, "ACTIVITY_TASK_STARTED")]
    assert [s.get("attempt", 1) for s in started] == [1]
    # One attempt although `retries: 3` allowed four: the 404 was non-retryable, not out of retries.
    (scheduled,) = events(path, "ACTIVITY_TASK_SCHEDULED")
    assert scheduled["activityTaskScheduledEventAttributes"]["retryPolicy"]["maximumAttempts"] == 4


# Unsandboxed: this test module imports I/O libraries the sandbox would refuse to re-import.
@workflow.defn(name="JobWorkflow", sandboxed=False)
class SkipsTheWait:
    """A changed JobWorkflow that forgets its durable sleep: replay must refuse it."""

    @workflow.run
    async def run(self, job: Any) -> Any:
        return await workflow.execute_activity(RUN_ACTION, job, start_to_close_timeout=timedelta(seconds=5))


async def test_replay_detects_a_non_deterministic_change() -> None:
    replayer = Replayer(workflows=[SkipsTheWait], data_converter=CONVERTER)
    path = history("delayed")
    # The recorded TimerStarted meets the changed code's activity command (temporalio 1.35: TMPRL1100).
    with pytest.raises(workflow.NondeterminismError, match="TimerStarted"):
        await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))


def _decoded_payload_bytes(path: Path) -> bytes:
    """Every payload's raw bytes in a history file, concatenated."""
    found: list[bytes] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("data"), str) and "metadata" in node:
                found.append(base64.b64decode(node["data"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(path.read_text()))
    return b"\n".join(found)


def test_encrypted_histories_hold_no_session_data_in_clear() -> None:
    path = history("with_session")
    raw = path.read_text().encode() + _decoded_payload_bytes(path)
    for needle in (b"ada@example.com", b"eyJhbGciOi", b"$Session{details}", b"user-session"):
        assert needle not in raw
    unencrypted = history("plain_unencrypted")
    assert b"send_welcome_email" in _decoded_payload_bytes(unencrypted)  # the scan does see clear payloads


async def test_unencrypted_history_replays_with_the_plain_converter() -> None:
    path = history("plain_unencrypted")
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER, workflow_runner=WORKFLOW_RUNNER)
    await replayer.replay_workflow(WorkflowHistory.from_json("replay-plain", path.read_text()))


async def test_unencrypted_history_is_refused_by_an_encrypting_converter(caplog: pytest.LogCaptureFixture) -> None:
    path = history("plain_unencrypted")
    replayer = Replayer(workflows=WORKFLOWS, data_converter=CONVERTER, workflow_runner=WORKFLOW_RUNNER)
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json("replay-plain", path.read_text()), raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
    # The failure itself is encrypted; the worker's log names the refusal.
    refusals = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], PlaintextPayloadError)]
    assert refusals
    assert "refused an unencrypted payload (encoding 'json/plain')" in str(refusals[0].exc_info[1])  # type: ignore[index]


async def test_encrypted_history_does_not_replay_without_the_keys() -> None:
    path = history("plain")
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER, workflow_runner=WORKFLOW_RUNNER)
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json(path.stem, path.read_text()), raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
