"""What every history recorder's ``__main__`` does: a real local HTTP target around one recording,
then an exit the SDK's native threads cannot abort (temporalio/sdk-python#300)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable

from tests.support.http_target import HttpTarget


async def _with_target(record: Callable[[HttpTarget], Awaitable[None]]) -> None:
    target = HttpTarget()
    await target.start()
    try:
        await record(target)
    finally:
        await target.stop()


def run_recorder(record: Callable[[HttpTarget], Awaitable[None]]) -> None:
    asyncio.run(_with_target(record))
    sys.stdout.flush()
    os._exit(0)
