"""An outgoing HTTP call's failure as a ``JobFailure``, typed as ``ductape_jobs.activities.errors`` says.

Apart from ``ductape_jobs.activities.errors`` so that the activities without HTTP do not import httpx.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx

from ductape_jobs.activities.errors import JobFailure, error_type_for_status


async def checked_response(
    request: Awaitable[httpx.Response],
    what: str,
    timeout_s: float,
    *,
    details: Callable[[httpx.Response], object] | None = None,
    retry_after: Callable[[httpx.Response], timedelta | None] | None = None,
) -> httpx.Response:
    """The response to ``request`` (awaited here), if its status is below 400.

    ``what`` names the call in messages (never a filled URL: it may carry secrets or personal
    data); ``timeout_s`` is the request's timeout in seconds, for the message.

    Raises:
        JobFailure: TIMEOUT; CONFIG_ERROR for an invalid URL; CONNECTION_ERROR for other transport
            errors (named by class only); for a status of 400 or more, the status's type with
            ``details(response)`` and ``retry_after(response)`` when given.
    """
    try:
        response = await request
    except httpx.TimeoutException:
        raise JobFailure("TIMEOUT", f"{what} timed out after {timeout_s:g} s") from None
    except httpx.InvalidURL as err:
        raise JobFailure("CONFIG_ERROR", f"{what}: invalid URL ({err})") from None
    except httpx.TransportError as err:
        raise JobFailure("CONNECTION_ERROR", f"{what}: {type(err).__name__}") from None
    if response.status_code >= 400:
        raise JobFailure(
            error_type_for_status(response.status_code),
            f"{what} returned HTTP {response.status_code}",
            details=None if details is None else details(response),
            retry_after=None if retry_after is None else retry_after(response),
        )
    return response
