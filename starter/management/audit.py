"""The audit trail: who paused, cancelled or changed a job, when and why.

Each action a ``Jobs`` call takes on a job is signalled to the job's ``JobAudit`` workflow
(``ductape_jobs.workflows.job_audit_workflow``, ID ``audit:<job ID>``) once it took effect. The trail is
that workflow's history: the Web UI shows it, no Web UI button rewrites it, and it outlives the job.
Reading decodes the history, so it works with no worker running.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from ductape_jobs.workflows.contracts.audit import REASON_MAX, AuditAction, AuditEntry, AuditLog
from ductape_jobs.workflows.contracts.instants import to_epoch_ms
from ductape_jobs.workflows.contracts.job import JobInputError
from ductape_jobs.workflows.names import DEFAULT_TASK_QUEUE, JOB_AUDIT_WORKFLOW, RECORD_AUDIT

__all__ = ["AuditTrail", "audit_id", "checked_reason", "default_identity"]

_Model = TypeVar("_Model", bound=BaseModel)


def default_identity() -> str:
    """``user@host`` of this process: who made a change, when the client was given no ``identity``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def audit_id(job_id: str) -> str:
    return f"audit:{job_id}"


def checked_reason(reason: object) -> str | None:
    """Raises: JobInputError naming ``reason``: not text, or longer than ``REASON_MAX``."""
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise JobInputError.one("reason", f"must be text, not {type(reason).__name__}")
    if len(reason) > REASON_MAX:
        raise JobInputError.one("reason", f"at most {REASON_MAX} characters, got {len(reason)}")
    return reason.strip() or None


class AuditTrail:
    """Records and reads the audit trails of one client's jobs."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = DEFAULT_TASK_QUEUE,
        identity: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.identity = identity or default_identity()
        self.clock = clock

    def entry(
        self,
        job_id: str,
        action: AuditAction,
        *,
        reason: str | None = None,
        bulk: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> AuditEntry:
        """An entry by this client's identity, now; ``details`` without its ``None`` values."""
        changed = {k: v for k, v in (details or {}).items() if v is not None}
        return AuditEntry.model_validate(
            {"action": action, "job_id": job_id, "identity": self.identity, "at": to_epoch_ms(self.clock()),
             "reason": reason, "bulk": bulk, "details": changed}
        )  # fmt: skip

    async def record(self, entry: AuditEntry) -> AuditEntry:
        """Append ``entry`` to its job's trail (starting the trail's workflow on the first action).

        Raises:
            temporalio.service.RPCError: the server refused the signal; the action itself stands.
        """
        await self.client.start_workflow(
            JOB_AUDIT_WORKFLOW,
            AuditLog(job_id=entry.job_id),
            id=audit_id(entry.job_id),
            task_queue=self.task_queue,
            start_signal=RECORD_AUDIT,
            start_signal_args=[entry],
            # A trail whose run ended (terminated by hand) starts a new run rather than refusing the entry.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=f"audit trail of {entry.job_id}",
        )
        return entry

    async def read(self, job_id: str) -> list[AuditEntry]:
        """The job's trail, oldest first; empty if no action was ever taken on it.

        Raises:
            temporalio.service.RPCError: other than not found.
        """
        entries: list[AuditEntry] = []
        try:
            async for event in self.client.get_workflow_handle(audit_id(job_id)).fetch_history_events():
                if event.HasField("workflow_execution_started_event_attributes"):
                    started = event.workflow_execution_started_event_attributes.input.payloads
                    entries.extend((await self._decode(started, AuditLog)).entries)
                elif event.HasField("workflow_execution_signaled_event_attributes"):
                    signal = event.workflow_execution_signaled_event_attributes
                    if signal.signal_name == RECORD_AUDIT:
                        entries.append(await self._decode(signal.input.payloads, AuditEntry))
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        return entries

    async def _decode(self, payloads: Sequence[Payload], kind: type[_Model]) -> _Model:
        return kind.model_validate((await self.client.data_converter.decode(payloads, [kind]))[0])
