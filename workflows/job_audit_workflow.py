"""``JobAudit``: the audit trail of one job (workflow code: deterministic).

Each management action signals the job's audit workflow (signal-with-start), so the trail lives in
Temporal's own history: written once, ordered, timed by the server, visible in the Web UI under the
ID ``audit:<job ID>``, and kept after the job itself is deleted. Nothing the Web UI's buttons change
(a schedule's note, its paused state) is the record. The workflow only keeps the entries in order and,
when its history grows long, carries the newest over into a fresh run; readers decode the history
(``ductape_jobs.management.audit``), so reading needs no worker.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ductape_jobs.workflows.contracts.audit import AuditEntry, AuditLog
    from ductape_jobs.workflows.names import JOB_AUDIT_WORKFLOW, RECORD_AUDIT

KEEP = 1000
"""How many entries a fresh run carries over (older ones stay in the closed runs' histories)."""
ENTRIES_PER_RUN = 500
"""Continue-as-new after this many new entries: a run's history stays short to read."""


@workflow.defn(name=JOB_AUDIT_WORKFLOW)
class JobAudit:
    @workflow.init
    def __init__(self, log: AuditLog) -> None:
        self._entries = list(log.entries)
        self._new = 0

    @workflow.run
    async def run(self, log: AuditLog) -> None:
        # An audit workflow waits for entries for as long as its job is managed; it holds no timer.
        await workflow.wait_condition(
            lambda: self._new >= ENTRIES_PER_RUN or workflow.info().is_continue_as_new_suggested()
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(AuditLog(job_id=log.job_id, entries=self._entries[-KEEP:]))

    @workflow.signal(name=RECORD_AUDIT)
    def record(self, entry: AuditEntry) -> None:
        self._entries.append(entry)
        self._new += 1

    @workflow.query(name="entries")
    def entries(self) -> list[AuditEntry]:
        """The trail, oldest first (the Web UI's Queries tab shows it)."""
        return list(self._entries)
