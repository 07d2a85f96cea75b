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
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from ductape_jobs.codec.converter import DATA_CONVERTER
from ductape_jobs.codec.encryption import PlaintextPayloadError, encrypted_converter
from ductape_jobs.worker.job_worker import WORKFLOWS
from ductape_jobs.worker.workflow_runner import WORKFLOW_RUNNER
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.contracts.route import RUN_FUNCTION
from ductape_jobs.workflows.event_runner import RATE_LIMITS
from ductape_jobs.workflows.event_types import ACTIVITY_BEFORE_INPUT_NAMED_IT
from ductape_jobs.workflows.job_event_workflow import JobEventWorkflow
from ductape_jobs.workflows.job_workflow import EXACT_MANAGEMENT
from ductape_jobs.workflows.names import (
    CHECKPOINT,
    DELIVER_JOB_EVENT,
    PREPARE_NOTIFICATION,
    REQUEST_SLOT,
    RESOLVE_PLACEHOLDERS,
    RESOLVE_ROUTE,
    SEND_NOTIFICATION,
)
from ductape_jobs.workflows.slot_keeping import CONCURRENCY
from tests.conftest import CONVERTER, TEST_KEYRING

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
        "job_audit", "job_workflow_missed",
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


def test_controlled_history_covers_pause_resume_reschedule_and_trigger() -> None:
    types = event_types(history("controlled"))
    assert types.count("WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 4
    assert "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES" in types  # the reschedule moved DuctapeScheduledAt
    assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"


def test_events_history_starts_deliveries_without_delaying_the_activity() -> None:
    types = event_types(history("with_events"))
    assert types.count("START_CHILD_WORKFLOW_EXECUTION_INITIATED") == 2  # job.started, job.completed
    first_task = types[: types.index("CHILD_WORKFLOW_EXECUTION_STARTED")]
    assert "ACTIVITY_TASK_SCHEDULED" in first_task  # the job's activity went out with the first start


def test_function_feature_and_fallback_histories_have_their_shape() -> None:
    assert scheduled_activities(history("function")) == [RUN_FUNCTION]
    feature = event_types(history("feature"))
    assert scheduled_activities(history("feature")) == [RESOLVE_ROUTE]
    assert feature.count("START_CHILD_WORKFLOW_EXECUTION_INITIATED") == 1
    assert feature[-1] == "WORKFLOW_EXECUTION_COMPLETED"
    # The first option (a 404) failed for good, then the second ran: one history, both attempts.
    assert scheduled_activities(history("fallback")) == [RESOLVE_ROUTE, RUN_ACTION, RUN_ACTION]
    assert event_types(history("fallback"))[-1] == "WORKFLOW_EXECUTION_COMPLETED"


def test_notification_history_sends_each_channel_as_its_own_activity() -> None:
    path = history("notification")
    assert scheduled_activities(path) == [PREPARE_NOTIFICATION] + [SEND_NOTIFICATION] * 4
    retried = [e["activityTaskStartedEventAttributes"].get("attempt", 1) for e in events(path, "ACTIVITY_TASK_STARTED")]
    assert sorted(retried)[-1] == 2  # the SMS provider failed once: only that channel ran twice
    assert event_types(path)[-1] == "WORKFLOW_EXECUTION_COMPLETED"


EVENT_HISTORIES = Path(__file__).parent / "histories"


def _delivery_ends(path: Path) -> dict[int, str]:
    """Scheduled-event ID of each delivery activity -> how it ended (``COMPLETED``/``FAILED``/``open``)."""
    ends = {
        int(e["eventId"]): "open"
        for e in events(path, "ACTIVITY_TASK_SCHEDULED")
        if e["activityTaskScheduledEventAttributes"]["activityType"]["name"] == DELIVER_JOB_EVENT
    }
    for kind in ("COMPLETED", "FAILED"):
        for e in events(path, f"ACTIVITY_TASK_{kind}"):
            scheduled = int(e[f"activityTask{kind.title()}EventAttributes"]["scheduledEventId"])
            if scheduled in ends:
                ends[scheduled] = kind
    return ends


def test_old_event_history_gave_up_a_delivery_still_in_progress() -> None:
    """Recorded before ``INDEPENDENT_DELIVERIES``: ``down`` spent its 25 attempts and the run failed
    at once, abandoning ``late`` (never ended): the commands the patch changes."""
    path = EVENT_HISTORIES / "job_event_workflow_abandoned.json"
    assert sorted(_delivery_ends(path).values()) == ["FAILED", "open"]
    attempts = [
        e["activityTaskStartedEventAttributes"].get("attempt", 1) for e in events(path, "ACTIVITY_TASK_STARTED")
    ]
    assert attempts == [1, 25]  # the targets lookup, then the delivery that gave up
    assert "MARKER_RECORDED" not in event_types(path)
    assert event_types(path)[-1] == "WORKFLOW_EXECUTION_FAILED"


def test_new_event_history_ends_every_delivery_before_the_run() -> None:
    path = EVENT_HISTORIES / "job_event_workflow_independent.json"
    assert sorted(_delivery_ends(path).values()) == ["COMPLETED", "FAILED"]
    types = event_types(path)
    assert "MARKER_RECORDED" in types
    assert types.index("ACTIVITY_TASK_COMPLETED", types.index("MARKER_RECORDED")) < types.index(
        "WORKFLOW_EXECUTION_FAILED"
    )


async def test_old_event_history_needs_the_patch_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """The new code without its guard (``INDEPENDENT_DELIVERIES``) waits for ``late`` where the old run
    failed: replaying the old history must refuse it (so that history does exercise the change)."""
    monkeypatch.setattr(workflow, "patched", lambda patch_id: True)
    replayer = Replayer(
        workflows=[JobEventWorkflow], data_converter=CONVERTER, workflow_runner=UnsandboxedWorkflowRunner()
    )
    path = EVENT_HISTORIES / "job_event_workflow_abandoned.json"
    with pytest.raises(workflow.NondeterminismError, match="WorkflowExecutionFailed"):
        await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))


# Runs since exact management (``EXACT_MANAGEMENT``); the files above were recorded before it and
# replay on the old path: the patch marker is what tells the two apart.


def _scheduled(path: Path) -> list[dict[str, Any]]:
    return [e["activityTaskScheduledEventAttributes"] for e in events(path, "ACTIVITY_TASK_SCHEDULED")]


def _patched(path: Path) -> bool:
    return any(
        EXACT_MANAGEMENT.encode() in base64.b64decode(payload.get("data", ""))
        for marker in events(path, "MARKER_RECORDED")
        for payload in marker["markerRecordedEventAttributes"]["details"].get("patch-data", {}).get("payloads", [])
    )


def test_the_patch_is_recorded_only_where_the_paths_part() -> None:
    """Arming, or a cancel while the event runs; a plain job costs no extra event."""
    assert {p.stem for p in HISTORIES if p.stem.startswith("job_workflow") and _patched(p)} == {
        "job_workflow_exact_armed_held", "job_workflow_exact_armed_cancelled", "job_workflow_exact_armed_retried",
        "job_workflow_exact_cancel_refused",
    }  # fmt: skip
    assert len(event_types(history("exact_plain"))) == len(event_types(history("plain")))


def test_exact_plain_job_heartbeats() -> None:
    (scheduled,) = _scheduled(history("exact_plain"))
    assert (scheduled["activityType"]["name"], scheduled["heartbeatTimeout"]) == (RUN_ACTION, "20s")


def test_a_cancel_while_the_event_runs_is_refused_and_the_event_ends() -> None:
    path = history("exact_cancel_refused")
    types = event_types(path)
    assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" in types
    assert "ACTIVITY_TASK_CANCEL_REQUESTED" not in types  # the running event was never cut short
    assert types.index("WORKFLOW_EXECUTION_CANCEL_REQUESTED") < types.index("ACTIVITY_TASK_COMPLETED")
    assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"


def test_exact_armed_job_taken_back_then_run_at_its_new_time() -> None:
    path = history("exact_armed_held")
    names = [a["activityType"]["name"] for a in _scheduled(path)]
    assert names == [RUN_ACTION, CHECKPOINT, RUN_ACTION]
    types = event_types(path)
    # The cancel of the armed attempt and the checkpoint go out together; the change holds after.
    assert types.count("ACTIVITY_TASK_CANCEL_REQUESTED") == 1
    assert types.count("WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 3  # pause, reschedule, resume
    assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"
    armed = _scheduled(path)[0]
    assert (armed["heartbeatTimeout"], armed["retryPolicy"]["maximumAttempts"]) == ("10s", 1)


def test_exact_armed_job_cancelled_before_its_instant() -> None:
    path = history("exact_armed_cancelled")
    types = event_types(path)
    assert [a["activityType"]["name"] for a in _scheduled(path)] == [RUN_ACTION, CHECKPOINT]
    assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" in types
    assert types.count("ACTIVITY_TASK_COMPLETED") == 1  # the checkpoint; the event never ran
    assert types[-1] == "WORKFLOW_EXECUTION_CANCELED"


def test_exact_armed_attempt_then_its_retries() -> None:
    path = history("exact_armed_retried")
    armed, rest = _scheduled(path)
    assert (armed["retryPolicy"]["maximumAttempts"], armed["heartbeatTimeout"]) == (1, "10s")
    assert (rest["retryPolicy"]["maximumAttempts"], rest["heartbeatTimeout"]) == (2, "20s")
    types = event_types(path)
    backoff = len(types) - 1 - types[::-1].index("TIMER_STARTED")  # the retry's backoff, after the wait's timer
    assert types.index("ACTIVITY_TASK_FAILED") < backoff < len(types) - 1
    assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"


# Recorded with the code from before exact management (kept, not re-recorded): the old paths the
# patch must keep replaying.


def test_old_cancel_while_running_cut_the_event_short() -> None:
    types = event_types(history("cancelled_running"))
    assert "ACTIVITY_TASK_CANCEL_REQUESTED" in types
    assert types[-1] == "WORKFLOW_EXECUTION_CANCELED"


def test_old_armed_cancel_ended_at_once() -> None:
    types = event_types(history("armed_cancelled"))
    assert "ACTIVITY_TASK_CANCEL_REQUESTED" in types
    assert CHECKPOINT not in scheduled_activities(history("armed_cancelled"))
    assert types[-1] == "WORKFLOW_EXECUTION_CANCELED"


@pytest.mark.parametrize("name", ["cancelled_running", "armed_cancelled"])
async def test_old_cancel_histories_need_the_patch_guard(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without its guard, the new code refuses a late cancel or takes the armed attempt back with a
    checkpoint: replaying these histories must refuse it (so they do exercise the old branches)."""
    monkeypatch.setattr(workflow, "patched", lambda patch_id: True)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=CONVERTER, workflow_runner=UnsandboxedWorkflowRunner())
    path = history(name)
    # A non-determinism error, or the core's state machines refusing the recorded cancel outright.
    with pytest.raises((workflow.NondeterminismError, RuntimeError)):
        await replayer.replay_workflow(WorkflowHistory.from_json(f"replay-{name.replace('_', '-')}", path.read_text()))


def _patch_ids(path: Path) -> set[str]:
    return {
        json.loads(base64.b64decode(payload["data"]))["id"]
        for marker in events(path, "MARKER_RECORDED")
        for payload in marker["markerRecordedEventAttributes"]["details"].get("patch-data", {}).get("payloads", [])
    }


def test_a_rate_limited_event_runs_on_its_targets_queue_behind_its_patch() -> None:
    (scheduled,) = _scheduled(history("rate_limited"))
    assert scheduled["taskQueue"]["name"].endswith("@rate:my-product/dev/email-service")
    assert _patch_ids(history("rate_limited")) == {RATE_LIMITS}
    assert all(s["taskQueue"]["name"] == "replay-recording" for s in _scheduled(history("plain")))


def test_a_run_in_line_waits_for_its_grant_then_releases_its_slot() -> None:
    path = history("concurrency")
    assert scheduled_activities(path) == [REQUEST_SLOT, RUN_ACTION]
    kinds = event_types(path)
    assert kinds.index("WORKFLOW_EXECUTION_SIGNALED") < kinds.index(
        "ACTIVITY_TASK_SCHEDULED", kinds.index("WORKFLOW_EXECUTION_SIGNALED")
    )
    assert "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED" in kinds  # the release
    assert _patch_ids(path) == {CONCURRENCY, RATE_LIMITS}
    keeper = event_types(Path(__file__).parent / "histories" / "concurrency_slots.json")
    assert keeper.count("WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 2  # two requests
    assert "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED" in keeper  # the grant to the second


def test_a_superseded_job_ends_without_running_its_event() -> None:
    path = history("superseded")
    kinds = event_types(path)
    assert "WORKFLOW_EXECUTION_UPDATE_COMPLETED" in kinds
    assert scheduled_activities(path) == []
    assert kinds[-1] == "WORKFLOW_EXECUTION_COMPLETED"
