"""Waiting for server state: poll a condition until it holds, and fail with a clear message if it does not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def eventually(check: Callable[[], bool | Awaitable[bool]], within: float = 20.0) -> None:
    """Return once ``check`` (sync or async) is true; fail the test after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        outcome = check()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        assert time.monotonic() < deadline, f"condition not met within {within} s"
        await asyncio.sleep(0.2)
