"""``ductape-jobs jobs cancel|pause|resume|retry|trigger --filter ...``: a bulk action with a progress bar."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ductape_jobs.management.bulk_actions import BulkAction, BulkResult
from ductape_jobs.management.bulk_dispatch import BulkProgress
from ductape_jobs.management.jobs import Jobs
from ductape_jobs.workflows.contracts.job import JobInputError

BULK_ACTIONS: tuple[BulkAction, ...] = ("cancel", "pause", "resume", "retry", "trigger")
FILTER_KEYS = ("product", "env", "namespace", "event_type", "event", "app", "from", "to", "status", "recurring")


def add_bulk_arguments(parser: argparse.ArgumentParser) -> None:
    bulk = parser.add_argument_group("bulk (cancel, pause, resume, retry, trigger without a JOB_ID)")
    bulk.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"select the jobs (repeatable; keys: {', '.join(FILTER_KEYS)}); the filter flags work too",
    )
    bulk.add_argument("--rate", type=float, default=50.0, help="actions per second (default 50)")
    bulk.add_argument("--client-side", action="store_true",
                      help="cancel: send every cancel from here, not as a server-side batch")  # fmt: skip


def corrected_input(text: str | None) -> dict[str, Any] | None:
    """Raises: JobInputError naming ``--input``: not a JSON object."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as err:
        raise JobInputError.one("--input", f"is not JSON: {err}") from None
    if not isinstance(value, dict):
        raise JobInputError.one("--input", "must be a JSON object")
    return value


def parse_filters(pairs: list[str], flags: dict[str, Any]) -> dict[str, Any]:
    """``--filter`` pairs over the filter flags.

    Raises:
        JobInputError: a pair without ``=`` or with an unknown key (names ``--filter``).
    """
    filters = dict(flags)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in FILTER_KEYS:
            raise JobInputError.one(
                "--filter", f"{pair!r}: expected KEY=VALUE with KEY one of {', '.join(FILTER_KEYS)}"
            )
        if key == "recurring":
            filters[key] = value.lower() in ("1", "true", "yes")
        else:
            filters["from_" if key == "from" else key] = value
    return filters


async def run_bulk(
    action: BulkAction, jobs: Jobs, filters: dict[str, Any], *, args: argparse.Namespace, console: Console
) -> BulkResult:
    """Raises: as ``Jobs.<action>_many``."""
    options: dict[str, Any] = {"reason": args.reason, "dry_run": args.dry_run, "rate": args.rate, **filters}
    if action == "retry" and args.input is not None:
        options["input"] = corrected_input(args.input)
    if action == "cancel":
        options["server_side"] = not args.client_side
    call = getattr(jobs, f"{action}_many")
    if args.json or args.dry_run:
        result: BulkResult = await call(**options)
        return result
    columns = (TextColumn(f"{action}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(action, total=None)

        def show(progress: BulkProgress) -> None:
            bar.update(task, completed=progress.done, total=progress.total)

        result = await call(**options, on_progress=show)
    return result


def bulk_table(result: BulkResult) -> Table:
    """The jobs that were not done, each with why; a dry run's sample."""
    if result.dry_run:
        table = Table(f"{result.action}: {result.eligible} of {result.matched} matched jobs (dry run), e.g.")
        for job_id in result.sample:
            table.add_row(job_id)
        return table
    table = Table("job_id", "outcome", "status before", "why")
    for item in result.items:
        if item.outcome != "done":
            table.add_row(item.job_id, item.outcome, item.status_before, item.detail or "")
    where = "server-side batch" if result.server_side else "from this client"
    table.caption = (f"{result.action} {result.bulk_id} ({where}): {result.done} done, {result.skipped} skipped, "
                     f"{result.failed} failed of {result.matched} matched")  # fmt: skip
    return table
