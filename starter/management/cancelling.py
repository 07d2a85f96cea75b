"""How a cancel request to a job run is decided: the run's own word, waited for with patience.

A run answers a cancel itself (``CANCEL_OUTCOME``): ``cancelled`` when its event had not started,
``refused`` when it had (the event runs to its end). A busy worker can take long to answer, so the wait
is renewed while the server holds the request, and only a run the request never reached, or one whose
worker stays silent past ``DECIDE_PATIENCE``, is ``undecided``: never reported as cancelled or refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import Literal

from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import CancelledError
from temporalio.service import RPCError, RPCStatusCode

from ductape_jobs.workflows.contracts.job import JobState
from ductape_jobs.workflows.names import CANCEL_OUTCOME

CANCEL_WAIT = timedelta(seconds=30)
"""One wait for the run's answer; also how long a cancelled run may take to close once its cancel is
decided (a run from before exact management may still be taking an armed attempt back)."""
DECIDE_PATIENCE = timedelta(minutes=2)
"""How long a run whose cancel the server holds may take to decide it (its worker may be behind a herd)."""
CancelOutcome = Literal["cancelled", "refused", "finished", "undecided"]


async def cancel_run(client: Client, workflow_id: str) -> CancelOutcome:
    """Ask a job run to cancel and wait for its word (see ``cancel_decided``)."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        await handle.cancel()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return "finished"
        raise
    return await cancel_decided(client, workflow_id)


async def cancel_decided(
    client: Client, workflow_id: str, *, patience: timedelta = DECIDE_PATIENCE, wait: timedelta = CANCEL_WAIT
) -> CancelOutcome:
    """How a cancel request already sent to the run (by ``cancel_run`` or a server-side batch) was
    decided: ``cancelled`` (its event never starts), ``refused`` (its event had started; it runs to
    its end), ``finished`` (it ended first) or ``undecided`` (the request never reached the run, or
    the run did not answer within ``patience``: it still decides when its worker gets to it). ``wait``:
    one wait for its answer, renewed while the server holds the request."""
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + patience.total_seconds()
    while True:
        try:
            async with asyncio.timeout(wait.total_seconds()):
                state = await handle.execute_update(CANCEL_OUTCOME, result_type=JobState)
        except (WorkflowUpdateFailedError, RPCError):
            break  # closed, or a run from before exact management: how it closes tells
        except (TimeoutError, RPCTimeoutOrCancelledError):
            # The SDK turns a cancelled update call into its own error: a caller's cancel goes on up.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            if time.monotonic() >= deadline or not await _cancel_requested(handle):
                return "undecided"
            continue
        if state.cancel == "refused":
            return "refused"
        break
    # Decided (or a run from before exact management): the run closes at once when cancelled.
    try:
        await asyncio.wait_for(handle.result(), CANCEL_WAIT.total_seconds())
    except WorkflowFailureError as err:
        return "cancelled" if isinstance(err.cause, CancelledError) else "finished"
    except TimeoutError:
        return "refused"
    return "finished"


async def _cancel_requested(handle: WorkflowHandle[object, object]) -> bool:
    """Whether the server holds a cancel request for the run (a batch may have failed to reach it)."""
    with contextlib.suppress(RPCError):
        async for event in handle.fetch_history_events():
            if event.HasField("workflow_execution_cancel_requested_event_attributes"):
                return True
    return False
