"""The worker's shared HTTP client, with its waiting requests queued outside httpcore's pool.

httpcore's connection pool, on every request and every response, matches each waiting request
against each connection (httpcore ``_assign_requests_to_connections``): with a herd of jobs due at one
instant, hundreds of requests wait for a connection and that matching took most of a worker's CPU
(measured: 4.3 million ``can_handle_request`` calls for 400 requests, the herd's calls seconds
late). Here a request first waits for a free connection slot on a plain semaphore, so the pool never
holds more requests than it has connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx

# httpx's defaults. Keeping all 100 alive was slower in a herd: the pool checks every idle connection
# (a socket poll each) whenever a request starts or ends.
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def worker_http_client(*, limits: httpx.Limits = DEFAULT_LIMITS) -> httpx.AsyncClient:
    """The ``httpx.AsyncClient`` the worker's activities share (no redirects followed: an action's
    URL is what the config says)."""
    return httpx.AsyncClient(follow_redirects=False, transport=QueuedTransport(limits=limits))


class QueuedTransport(httpx.AsyncBaseTransport):
    """An ``AsyncHTTPTransport`` whose requests beyond ``max_connections`` wait on a semaphore; a slot
    is held until the response body is closed (the connection is busy until then)."""

    def __init__(self, *, limits: httpx.Limits) -> None:
        self._inner = httpx.AsyncHTTPTransport(limits=limits)
        self._slots = asyncio.Semaphore(limits.max_connections or 100)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._slots.acquire()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            self._slots.release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _ReleasingStream(response.stream, self._slots)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, slots: asyncio.Semaphore) -> None:
        self._inner = inner
        self._slots: asyncio.Semaphore | None = slots

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if self._slots is not None:
                self._slots.release()
                self._slots = None
