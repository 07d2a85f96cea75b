"""``ductape-jobs preview``: a cron expression's next runs under a DST policy, as the server will run them
(the main schedule from ``preview``, the companion's days from ``dst_policy``)."""

from __future__ import annotations

from datetime import datetime

from ductape_jobs.planning.calendars import calendars_of
from ductape_jobs.planning.dst_policy import dst_layout, union_runs
from ductape_jobs.planning.preview import DEFAULT_DST
from ductape_jobs.workflows.contracts.timing import IDstPolicy
from ductape_jobs.workflows.cron import parse_cron


def preview_cron(
    expression: str, *, tz: str = "UTC", after: datetime, count: int = 10, dst: IDstPolicy | None = DEFAULT_DST
) -> list[datetime]:
    """The next runs of a cron expression in ``tz`` (aware, UTC), as the server will run them for a job
    under the DST policy ``dst`` (default ``shift`` + ``first``; None: the server's native handling).

    Raises:
        CronError: the expression is invalid.
    """
    compiled = parse_cron(expression)
    calendars = calendars_of(compiled, expression.strip())
    layout = dst_layout(compiled, tz, dst, start=after)
    return union_runs(calendars, layout, time_zone=tz, after=after, count=count)
