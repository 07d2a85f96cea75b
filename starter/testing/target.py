"""A real HTTP server for tests: records every request, answers with scripted statuses."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float
    """Wall-clock time the request arrived (time.time())."""


class HttpTarget:
    """``await target.start()``; ``target.script('/flaky', [500, 500, 200])`` makes successive calls
    answer with those statuses (the last one repeats); unscripted paths answer 200 with a JSON echo
    (with FCM's ``name`` on a ``.../messages:send`` path, so push notifications can target it)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._scripts: dict[str, list[int]] = {}
        self.delays: dict[str, float] = {}
        """Seconds a path waits before it answers (a slow target)."""
        self.retry_after: dict[str, int] = {}
        """The ``Retry-After`` seconds a path's 429 answers carry."""
        self.overlap_field: str | None = None
        """When set: requests are grouped by this field of their JSON body, and ``peak_in_flight`` records
        the most of each group being answered at once (a slow path's delay included)."""
        self.in_flight: dict[str, int] = defaultdict(int)
        self.peak_in_flight: dict[str, int] = defaultdict(int)
        self._calls: dict[str, int] = defaultdict(int)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def script(self, path: str, statuses: list[int]) -> None:
        self._scripts[path] = statuses

    def calls(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode()
        self.requests.append(
            Received(request.method, request.path, dict(request.query), dict(request.headers), body, time.time())
        )
        group = str(body.get(self.overlap_field)) if self.overlap_field and isinstance(body, dict) else None
        if group is not None:
            self.in_flight[group] += 1
            self.peak_in_flight[group] = max(self.peak_in_flight[group], self.in_flight[group])
        try:
            if delay := self.delays.get(request.path):
                await asyncio.sleep(delay)
        finally:
            if group is not None:
                self.in_flight[group] -= 1
        statuses = self._scripts.get(request.path, [200])
        index = min(self._calls[request.path], len(statuses) - 1)
        self._calls[request.path] += 1
        status = statuses[index]
        answer = {"ok": status < 400, "path": request.path, "echo": body, "query": dict(request.query)}
        if request.path.endswith("/messages:send"):  # FCM's send answers with the message's name
            answer["name"] = f"{request.path.removesuffix(':send')}/{self._calls[request.path]}"
        headers = {"X-Request-Number": str(self._calls[request.path])}
        if status == 429 and request.path in self.retry_after:
            headers["Retry-After"] = str(self.retry_after[request.path])
        return web.json_response(answer, status=status, headers=headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
