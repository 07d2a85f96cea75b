"""The worker's shared HTTP client: its connections as separate one-connection lanes.

httpcore's connection pool does work proportional to its connections and waiting requests on every
request and every response (``_assign_requests_to_connections`` matches each waiting request
against each connection and polls idle ones): with a herd of jobs due at one instant, hundreds of
requests waiting on a 100-connection pool took most of a worker's CPU (measured: 4.3 million
``can_handle_request`` calls for 400 requests), and keeping 100 connections alive was slower still
(each idle one polled). Here each of up to ``max_connections`` lanes is a pool of one connection,
kept alive; a request takes a free lane (the one used last: its connection is warm) or waits for
one, and hands it back when its response is closed. No pool ever holds more than one connection or
one request, and a herd reuses its connections instead of opening one per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx

DEFAULT_LIMITS = httpx.Limits(max_connections=100)
"""Lanes (connections) the worker's client opens at most, across all hosts."""


def worker_http_client(*, limits: httpx.Limits = DEFAULT_LIMITS) -> httpx.AsyncClient:
    """The ``httpx.AsyncClient`` the worker's activities share (no redirects followed: an action's
    URL is what the config says)."""
    return httpx.AsyncClient(follow_redirects=False, transport=LaneTransport(limits=limits))


class LaneTransport(httpx.AsyncBaseTransport):
    """Requests spread over up to ``max_connections`` one-connection transports (lanes), each lent
    to one request until its response body is closed; beyond that, requests wait for a lane."""

    def __init__(self, *, limits: httpx.Limits) -> None:
        self._most = limits.max_connections or 100
        self._expiry = limits.keepalive_expiry
        self._ssl = httpx.create_ssl_context()  # one for all lanes: each would load the CA bundle
        self._lanes: list[httpx.AsyncHTTPTransport] = []
        # Last in, first out: the lane used last has the connection likeliest to be alive.
        self._free: asyncio.LifoQueue[httpx.AsyncHTTPTransport] = asyncio.LifoQueue()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._free.empty() and len(self._lanes) < self._most:
            self._lanes.append(
                httpx.AsyncHTTPTransport(
                    verify=self._ssl, limits=httpx.Limits(max_connections=1, keepalive_expiry=self._expiry)
                )
            )
            self._free.put_nowait(self._lanes[-1])
        lane = await self._free.get()
        try:
            response = await lane.handle_async_request(request)
        except BaseException:
            self._free.put_nowait(lane)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _LaneStream(response.stream, lambda: self._free.put_nowait(lane))
        return response

    async def aclose(self) -> None:
        for lane in self._lanes:
            await lane.aclose()


class _LaneStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, give_back: Callable[[], None]) -> None:
        self._inner = inner
        self._give_back: Callable[[], None] | None = give_back

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if self._give_back is not None:
                give_back, self._give_back = self._give_back, None
                give_back()
