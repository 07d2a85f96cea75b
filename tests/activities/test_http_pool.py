"""The worker's shared HTTP client under a burst: every request completes, the pool's connections
are never exceeded and are reused (a herd opens no connection per request), and a lane comes back
whatever the outcome (an error status, a refused connection, a body never read). Lanes are kept per
origin within a total bound, and the proxy environment is honoured (through a real forward proxy)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiohttp import web
from httpx._utils import get_environment_proxies
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.http.pool import proxy_mounts, worker_http_client
from ductape_jobs.settings import Settings
from tests.conftest import SECRETS, product_config_for
from tests.support.forward_proxy import ForwardProxy
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker

Server = tuple[str, dict[str, int]]
"""A server's URL and what it saw: ``connections`` (TCP connections accepted), ``open``/``most``
(requests in progress, now and at most), ``served``."""


@pytest.fixture
async def servers() -> AsyncIterator[Callable[[dict[str, int] | None], Awaitable[Server]]]:
    """Starts real servers; those given one ``everywhere`` dict also count their requests in progress
    together in it (``open``/``most``)."""
    runners: list[web.AppRunner] = []

    async def start(everywhere: dict[str, int] | None = None) -> Server:
        seen = {"open": 0, "most": 0, "served": 0, "connections": 0}
        together = everywhere if everywhere is not None else {"open": 0, "most": 0}

        peers: set[object] = set()

        async def handle(request: web.Request) -> web.Response:
            # A new client port is a new TCP connection (a closed one's port stays in TIME_WAIT).
            peers.add(request.transport.get_extra_info("peername") if request.transport else None)
            seen["connections"] = len(peers)
            for counts in (seen, together):
                counts["open"] += 1
                counts["most"] = max(counts["most"], counts["open"])
            await asyncio.sleep(0.5 if request.path == "/slow" else 0.01)
            for counts in (seen, together):
                counts["open"] -= 1
            seen["served"] += 1
            return web.json_response({"ok": True}, status=500 if request.path == "/fail" else 200)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}", seen

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def server(servers: Callable[[dict[str, int] | None], Awaitable[Server]]) -> Server:
    return await servers(None)


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


async def test_two_origins_called_in_turn_keep_their_connections(
    servers: Callable[[dict[str, int] | None], Awaitable[Server]],
) -> None:
    """Two apps called alternately, one request at a time: each keeps its one warm connection (a lane
    pool shared by all hosts closed one app's connection to open the other's, every request)."""
    (first, seen_first), (second, seen_second) = await servers(None), await servers(None)
    async with worker_http_client() as http:
        for _ in range(20):
            assert (await http.get(f"{first}/ok")).status_code == 200
            assert (await http.get(f"{second}/ok")).status_code == 200
    assert (seen_first["served"], seen_second["served"]) == (20, 20)
    assert (seen_first["connections"], seen_second["connections"]) == (1, 1)


async def test_the_total_bound_holds_across_origins(
    servers: Callable[[dict[str, int] | None], Awaitable[Server]],
) -> None:
    everywhere = {"open": 0, "most": 0}
    started = [await servers(everywhere) for _ in range(3)]
    async with worker_http_client(limits=httpx.Limits(max_connections=3), total_lanes=4) as http:
        answers = await asyncio.gather(*(http.get(f"{url}/ok") for _ in range(40) for url, _ in started))
    assert {a.status_code for a in answers} == {200}
    assert everywhere["most"] <= 4  # in all, although each origin may have 3
    assert all(seen["most"] <= 3 and seen["served"] == 40 for _, seen in started)
    assert sum(seen["connections"] for _, seen in started) <= 40  # lanes were reused, not one per request


async def test_at_the_total_bound_the_least_recently_used_idle_lane_makes_room(
    servers: Callable[[dict[str, int] | None], Awaitable[Server]],
) -> None:
    (a, seen_a), (b, seen_b), (c, seen_c) = [await servers(None) for _ in range(3)]
    async with worker_http_client(total_lanes=2) as http:
        for url in (a, b, c, b, a):  # c replaces a's lane (the oldest idle), then a replaces c's
            assert (await http.get(f"{url}/ok")).status_code == 200
    assert (seen_a["connections"], seen_b["connections"], seen_c["connections"]) == (2, 1, 1)


@pytest.mark.parametrize("waits_for", ["its origin's bound", "the total bound"])
async def test_a_request_cancelled_while_waiting_for_a_lane_takes_none_with_it(
    waits_for: str, servers: Callable[[dict[str, int] | None], Awaitable[Server]]
) -> None:
    (busy, _), (other, _) = await servers(None), await servers(None)
    waiting = busy if waits_for == "its origin's bound" else other
    async with worker_http_client(limits=httpx.Limits(max_connections=1), total_lanes=1) as http:
        holder = asyncio.create_task(http.get(f"{busy}/slow"))
        await asyncio.sleep(0.1)  # the one lane is lent out
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(http.get(f"{waiting}/ok"), 0.1)
        assert (await holder).status_code == 200
        for url in (waiting, busy, other):  # each would hang if the cancelled wait had kept a lane
            assert (await asyncio.wait_for(http.get(f"{url}/ok"), 5)).status_code == 200


def _clear_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    "environ",
    [
        {"HTTP_PROXY": "http://proxy:3128", "HTTPS_PROXY": "proxy:3129", "NO_PROXY": "localhost,.corp,10.0.0.1,::1"},
        {"http_proxy": "http://lower:1", "HTTP_PROXY": "http://upper:2", "ALL_PROXY": "socks5://all:3"},
        {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "example.com, http://skip.example"},
        {"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "*"},
        {"HTTP_PROXY": "http://proxy:3128", "REQUEST_METHOD": "GET"},
        {"HTTP_PROXY": "http://proxy:3128", "http_proxy": ""},
    ],
)
def test_the_proxy_environment_is_read_as_httpx_reads_it(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _clear_proxy_environment(monkeypatch)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert proxy_mounts(Settings.from_env(environ).proxies) == get_environment_proxies()


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    found = ForwardProxy()
    await found.start()
    yield found
    await found.stop()


@pytest.mark.parametrize(
    ("environ", "proxied"),
    [
        ({"HTTP_PROXY": "{proxy}"}, True),
        ({"http_proxy": "{proxy}"}, True),
        ({"ALL_PROXY": "{proxy}"}, True),
        ({"HTTP_PROXY": "{proxy}", "NO_PROXY": "127.0.0.1"}, False),
        ({"HTTP_PROXY": "{proxy}", "NO_PROXY": "*"}, False),
        ({"HTTPS_PROXY": "{proxy}"}, False),  # the target is plain http
        ({}, False),
    ],
)
async def test_requests_go_through_the_proxy_unless_no_proxy_covers_them(
    environ: dict[str, str], proxied: bool, proxy: ForwardProxy, http_target: HttpTarget
) -> None:
    settings = Settings.from_env({name: value.format(proxy=proxy.url) for name, value in environ.items()})
    async with worker_http_client(proxies=settings.proxies) as http:
        answer = await http.post(f"{http_target.url}/v1/thing", json={"n": 1})
    assert answer.status_code == 200
    assert answer.json()["echo"] == {"n": 1}  # relayed back unchanged
    assert len(http_target.calls("/v1/thing")) == 1
    assert proxy.forwarded == ([f"{http_target.url}/v1/thing"] if proxied else [])


async def test_a_workers_actions_and_webhooks_go_through_the_proxy(
    dev_env: WorkflowEnvironment, proxy: ForwardProxy, http_target: HttpTarget, task_queue: str
) -> None:
    settings = Settings.from_env({"HTTP_PROXY": proxy.url})  # as `ductape-jobs worker` reads it
    hooks = {"ops": {"url": f"{http_target.url}/hooks", "secret": "$Secret{EMAIL_KEY}", "events": ["job.completed"]}}
    config = product_config_for(http_target.url, webhooks=hooks)
    async with job_worker(
        dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS), proxies=settings.proxies
    ):
        ductape = Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
        job = await ductape.processor.job.schedule(
            {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
             "input": {"body": {"id": uuid.uuid4().hex}}}
        )  # fmt: skip
        await ductape.jobs.result(job.job_id)
        await proxy.wait_for(1, "/hooks")
    assert proxy.forwarded.count(f"{http_target.url}/v1/welcome") == 1
    assert len(http_target.calls("/v1/welcome")) == 1
    assert http_target.calls("/hooks")[0].body["job"]["id"] == job.job_id
