"""``ductape-jobs jobs ...``: job management from a terminal, as Rich tables or ``--json``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from ductape_jobs.cli.bulk import BULK_ACTIONS, add_bulk_arguments, bulk_table, corrected_input, parse_filters, run_bulk
from ductape_jobs.management.backfill import BackfillResult
from ductape_jobs.management.jobs import Jobs
from ductape_jobs.workflows.contracts.audit import AuditEntry
from ductape_jobs.workflows.contracts.management import JobHistory, JobPage, JobRecord, JobStats

ACTIONS_WITH_ID = (
    "get", "result", "cancel", "pause", "resume", "reschedule", "trigger", "retry", "history", "delete", "backfill",
    "audit",
)  # fmt: skip
CHANGES = ("cancel", "pause", "resume", "trigger", "retry", "delete")
"""Actions that take only the job and a ``--reason`` (reschedule and backfill take more)."""
ACTIONS = ("list", "stats", *ACTIONS_WITH_ID)


def add_jobs_parser(sub: Any, connection: Callable[[argparse.ArgumentParser], None]) -> None:
    jobs = sub.add_parser("jobs", help="list, inspect and manage jobs")
    jobs.add_argument("action", choices=ACTIONS)
    jobs.add_argument("job_id", nargs="?", help=f"required by {', '.join(ACTIONS_WITH_ID)}")
    jobs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    filters = jobs.add_argument_group("filters (list, stats)")
    filters.add_argument("--status", choices=["scheduled", "queued", "running", "completed", "failed", "cancelled",
                                              "paused", "dead"])  # fmt: skip
    filters.add_argument("--product")
    filters.add_argument("--env")
    filters.add_argument(
        "--event-namespace",
        dest="namespace",
        help="actions, workflows, notifications, storage, events, database, graphs",
    )
    filters.add_argument("--event")
    filters.add_argument("--event-type", dest="event_type")
    filters.add_argument("--app")
    filters.add_argument("--from", dest="from_", help="scheduled at or after (epoch ms or ISO-8601)")
    filters.add_argument("--to", help="scheduled at or before")
    kind = filters.add_mutually_exclusive_group()
    kind.add_argument("--recurring", dest="recurring", action="store_true", default=None)
    kind.add_argument("--one-off", dest="recurring", action="store_false")
    filters.add_argument("--limit", type=int, default=50)
    filters.add_argument("--cursor")
    change = jobs.add_argument_group("reschedule")
    change.add_argument("--start-at", help="new start time of a waiting one-off job (epoch ms or ISO-8601)")
    change.add_argument("--cron")
    change.add_argument("--every", type=int, help="milliseconds")
    change.add_argument("--tz")
    backfill = jobs.add_argument_group("backfill")
    backfill.add_argument("--start", help="first nominal time of the range (epoch ms or ISO-8601)")
    backfill.add_argument("--end", help="last nominal time of the range")
    backfill.add_argument("--overlap", choices=["buffer_all", "allow_all", "skip"], default="buffer_all")
    backfill.add_argument(
        "--dry-run", action="store_true", help="backfill, bulk: say what would happen, change nothing"
    )
    add_bulk_arguments(jobs)
    jobs.add_argument("--input", help="retry: a corrected input for the job's event, as a JSON object")
    jobs.add_argument("--reason", help="why: recorded with your identity in the job's audit trail (`jobs audit`)")
    jobs.add_argument(
        "--timeout", type=_positive_seconds, metavar="SECONDS",
        help="result: stop waiting after this long (exit code 1; the job goes on); default: wait",
    )  # fmt: skip
    connection(jobs)


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return seconds


def _ms(value: int | None) -> str:
    if value is None:
        return ""
    return datetime.fromtimestamp(value / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _jobs_table(records: list[JobRecord]) -> Table:
    table = Table("job_id", "status", "event", "product/env", "scheduled_at (UTC)", "next_run_at", "runs", "error")
    for r in records:
        table.add_row(r.job_id, r.status, f"{r.event_type} {r.app + '/' if r.app else ''}{r.event}",
                      f"{r.product}/{r.env}", _ms(r.scheduled_at), _ms(r.next_run_at), str(r.execution_count),
                      (r.last_error or "")[:60])  # fmt: skip
    return table


def _audit_table(trail: list[AuditEntry]) -> Table:
    table = Table("at (UTC)", "who", "action", "reason", "details")
    for e in trail:
        details = json.dumps(e.details) if e.details else ""
        table.add_row(_ms(e.at), e.identity, e.action, e.reason or "", details + (f" bulk {e.bulk}" if e.bulk else ""))
    return table


def render(value: Any, *, as_json: bool, console: Console) -> None:
    """A model or value as JSON, or as the table that suits it."""
    if isinstance(value, Table):
        console.print(value)
        return
    if as_json or not isinstance(value, BaseModel):
        data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        console.print_json(json.dumps(data, default=str))
        return
    if isinstance(value, JobPage):
        console.print(_jobs_table(value.jobs))
        if value.cursor:
            console.print(f"more: --cursor {value.cursor}")
    elif isinstance(value, JobRecord):
        table = Table("field", "value")
        for key, item in value.model_dump(mode="json").items():
            shown = _ms(item) if key.endswith("_at") or key == "end_date" else item
            table.add_row(
                key, "" if shown is None else json.dumps(shown) if isinstance(shown, dict | list) else str(shown)
            )
        console.print(table)
    elif isinstance(value, JobHistory):
        table = Table("run", "status", "started (UTC)", "completed", "duration ms", "error")
        for run in value.executions:
            table.add_row(run.workflow_id, run.status, _ms(run.started_at), _ms(run.completed_at),
                          str(run.duration_ms or ""), (run.error or "")[:60])  # fmt: skip
        console.print(table)
        console.print(f"{value.total_executions} runs: {value.successful_executions} completed, "
                      f"{value.failed_executions} failed")  # fmt: skip
        if value.audit:
            console.print(_audit_table(value.audit))
    elif isinstance(value, JobStats):
        table = Table("status", "count")
        for status, count in sorted(value.by_status.items()):
            table.add_row(status, str(count))
        console.print(table)
        rate = "n/a" if value.success_rate is None else f"{value.success_rate:.1%}"
        console.print(f"total {value.total}, success rate {rate}, first try {value.completed_first_try}, "
                      f"after retries {value.completed_after_retry} (of {value.sampled} sampled)")  # fmt: skip
    elif isinstance(value, BackfillResult):
        table = Table("run", "nominal time (UTC)")
        for number, at in enumerate(value.occurrences, 1):
            table.add_row(str(number), _ms(at))
        console.print(table)
        verb = "would start" if value.dry_run else "started"
        console.print(f"{len(value.occurrences)} runs {verb} ({value.overlap})")
        if value.clipped_to is not None:
            console.print(f"the job's runs begin at {_ms(value.clipped_to)}: nothing before it is backfilled")
    else:
        console.print_json(value.model_dump_json())


async def run_jobs_command(args: argparse.Namespace, jobs: Jobs, console: Console) -> int:
    """Raises: the errors of the ``Jobs`` call (JobNotFoundError, JobStateError, JobInputError...)."""
    flags = {k: getattr(args, k) for k in ("product", "env", "namespace", "event_type", "event", "app", "from_", "to")}
    filters = {k: v for k, v in flags.items() if v is not None}
    if args.action in BULK_ACTIONS and not args.job_id:
        selection = parse_filters(args.filter, filters | {"status": args.status, "recurring": args.recurring})
        bulk = await run_bulk(args.action, jobs, selection, args=args, console=console)
        render(bulk if args.json else bulk_table(bulk), as_json=args.json, console=console)
        return 1 if bulk.failed else 0
    if args.action in ACTIONS_WITH_ID and not args.job_id:
        console.print(f"error: `jobs {args.action}` needs a JOB_ID")
        return 2
    result: Any
    if args.action == "list":
        result = await jobs.list(status=args.status, recurring=args.recurring, limit=args.limit,
                                 cursor=args.cursor, **filters)  # fmt: skip
    elif args.action == "stats":
        result = await jobs.stats(**filters)
    elif args.action == "reschedule":
        result = await jobs.reschedule(args.job_id, start_at=args.start_at, cron=args.cron, every=args.every,
                                       tz=args.tz, reason=args.reason)  # fmt: skip
    elif args.action == "result":
        result = await jobs.result(args.job_id, timeout=args.timeout)
    elif args.action == "history":
        result = await jobs.history(args.job_id, limit=args.limit)
    elif args.action == "backfill":
        result = await jobs.backfill(args.job_id, args.start, args.end, overlap=args.overlap, dry_run=args.dry_run,
                                     reason=args.reason)  # fmt: skip
    elif args.action == "delete":
        await jobs.delete(args.job_id, reason=args.reason)
        result = {"deleted": args.job_id}
    elif args.action == "audit":
        trail = await jobs.audit_trail(args.job_id)
        result = [e.model_dump(mode="json") for e in trail] if args.json else _audit_table(trail)
    elif args.action == "retry":
        result = await jobs.retry(args.job_id, input=corrected_input(args.input), reason=args.reason)
    elif args.action in CHANGES:
        result = await getattr(jobs, args.action)(args.job_id, reason=args.reason)
    else:
        result = await getattr(jobs, args.action)(args.job_id)
    render(result, as_json=args.json, console=console)
    return 0
