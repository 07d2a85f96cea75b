"""Webhook receivers on one real aiohttp server, one path per receiver, each answering by a rule of
its attempt number: for the delivery tests and the recorder of delivery histories."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Rule = Callable[[int], Awaitable[int]]
"""Attempt number (1-based) of this receiver -> the HTTP status it answers."""


@dataclass
class WebhookReceivers:
    """``rules`` by path (``/healthy``); a path without a rule answers 204."""

    rules: dict[str, Rule] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    events: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    """Events a receiver accepted (answered below 300), by path."""
    url: str = ""
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, path: str, attempts: int, within: float = 30.0) -> None:
        """Until ``path`` has had ``attempts`` requests (a rule may hold one receiver back on another)."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: self.attempts[path] >= attempts)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self._arrived:
            self.attempts[request.path] += 1
            self._arrived.notify_all()
        rule = self.rules.get(request.path)
        status = 204 if rule is None else await rule(self.attempts[request.path])
        if status < 300:
            self.events[request.path].append(json.loads(body))
        return web.Response(status=status)


def always(status: int) -> Rule:
    async def rule(attempt: int) -> int:
        return status

    return rule
