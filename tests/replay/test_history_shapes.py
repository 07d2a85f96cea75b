"""The shape of each committed history: which commands a run emitted (events, notifications, delivery
patches, exact management, flow controls), so a recorder change that loses a path is seen."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from ductape_jobs.worker.job_worker import WORKFLOWS
from ductape_jobs.workflows.contracts.route import RUN_FUNCTION
from ductape_jobs.workflows.event_runner import RATE_LIMITS
from ductape_jobs.workflows.job_event_workflow import JobEventWorkflow
from ductape_jobs.workflows.job_workflow import EXACT_MANAGEMENT
from ductape_jobs.workflows.names import (
    CHECKPOINT,
    DELIVER_JOB_EVENT,
    PREPARE_NOTIFICATION,
    REQUEST_SLOT,
    RESOLVE_ROUTE,
    SEND_NOTIFICATION,
    SET_QUEUE_RATE,
)
from ductape_jobs.workflows.slot_keeping import CONCURRENCY
from tests.conftest import CONVERTER
from tests.replay.history_files import (
    HISTORIES,
    RUN_ACTION,
    event_types,
    events,
    history,
    scheduled_activities,
)


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


def test_a_429_pause_holds_the_queue_then_gives_it_back() -> None:
    path = HISTORIES[0].parent / "target_pause.json"
    assert scheduled_activities(path) == [SET_QUEUE_RATE, SET_QUEUE_RATE]  # rate 0, then the workers' own
    types = event_types(path)
    assert types.index("TIMER_FIRED") < types.index("ACTIVITY_TASK_SCHEDULED", types.index("TIMER_FIRED"))
    assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"
