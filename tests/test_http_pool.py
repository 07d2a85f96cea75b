"""The worker's shared HTTP client under a burst: every request completes, the pool's connections
are never exceeded and are reused (a herd opens no connection per request), and a lane comes back
whatever the outcome (an error status, a refused connection, a body never read)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from activities.http_pool import worker_http_client


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, dict[str, int]]]:
    seen = {"open": 0, "most": 0, "served": 0}
    peers: set[object] = set()

    async def handle(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        seen["connections"] = len(peers)
        seen["open"] += 1
        seen["most"] = max(seen["most"], seen["open"])
        await asyncio.sleep(0.01)
        seen["open"] -= 1
        seen["served"] += 1
        return web.json_response({"ok": True}, status=500 if request.path == "/fail" else 200)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_a_burst_beyond_the_pool_waits_its_turn_and_all_complete(server: tuple[str, dict[str, int]]) -> None:
    url, seen = server
    async with worker_http_client(limits=httpx.Limits(max_connections=8)) as http:
        statuses = await asyncio.gather(*(http.post(f"{url}/{'fail' if i % 5 == 0 else 'ok'}") for i in range(300)))
    assert seen["served"] == 300
    assert [r.status_code for r in statuses].count(500) == 60
    assert seen["most"] <= 8
    assert seen["connections"] <= 8  # kept alive and reused, whatever the responses' status


async def test_slots_come_back_after_refused_connections_and_unread_bodies(server: tuple[str, dict[str, int]]) -> None:
    url, _ = server
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    async with worker_http_client(limits=httpx.Limits(max_connections=2)) as http:
        for _ in range(5):
            with pytest.raises(httpx.ConnectError):
                await http.get(closed)
        for _ in range(5):
            async with http.stream("GET", f"{url}/ok"):
                pass  # closed without reading the body
        response = await asyncio.wait_for(http.get(f"{url}/ok"), 5)  # would hang if a slot had leaked
    assert response.status_code == 200


async def test_a_herd_through_the_default_client_reuses_its_connections(server: tuple[str, dict[str, int]]) -> None:
    """1,000 requests at once through the worker's default client (100 connections): each connection
    serves many requests, none is closed and reopened as the herd goes through."""
    url, seen = server
    async with worker_http_client() as http:
        statuses = await asyncio.gather(*(http.post(f"{url}/ok") for _ in range(1000)))
    assert {r.status_code for r in statuses} == {200}
    assert seen["connections"] <= 100
