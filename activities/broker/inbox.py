"""What every broker's inbox offers a subscribe job: the next message, and ack or reject it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from ductape_jobs.workflows.contracts.broker import ReceivedMessage


@dataclass
class Delivery:
    received: ReceivedMessage
    handle: Any
    """The broker client's own message object (what ack/reject act on)."""


class Inbox(Protocol):
    async def next(self, deadline: float, limit: int) -> Delivery | None: ...
    async def ack(self, delivery: Delivery) -> None: ...
    async def reject(self, delivery: Delivery) -> None: ...
    async def release(self) -> None: ...


def loop_time() -> float:
    return asyncio.get_running_loop().time()


def text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
