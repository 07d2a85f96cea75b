"""A real HTTP forward proxy for tests: takes absolute-form requests (``GET http://host:port/path``),
forwards each to its origin and relays the answer, recording the URLs it forwarded."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from yarl import URL

_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "transfer-encoding", "upgrade", "host", "content-length",
}  # fmt: skip


class ForwardProxy:
    """``await proxy.start()``; ``proxy.url`` is what ``HTTP_PROXY`` names; ``proxy.forwarded`` lists
    the absolute URLs it forwarded, in order. A request that is not in absolute form gets 400."""

    def __init__(self) -> None:
        self.forwarded: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._arrived = asyncio.Condition()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)  # trust_env off: never proxies itself
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def wait_for(self, count: int, path: str, within: float = 20.0) -> None:
        """Until ``count`` forwarded requests had ``path`` in their URL."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: sum(path in url for url in self.forwarded) >= count)

    async def _forward(self, request: web.Request) -> web.Response:
        if not request.raw_path.startswith(("http://", "https://")):
            return web.Response(status=400, text="not a proxy request: the target must be an absolute URL")
        target = URL(request.raw_path, encoded=True)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(
            request.method, target, headers=headers, data=await request.read(), allow_redirects=False
        ) as answer:
            body = await answer.read()
            relayed = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            status = answer.status
        async with self._arrived:
            self.forwarded.append(str(target))
            self._arrived.notify_all()
        return web.Response(status=status, body=body, headers=relayed)
