"""The benchmarks' HTTP target, in its own process (a job's target is another service: its CPU must
not be taken from the worker being measured).

    python -m bench.target PORT

Any request records its arrival time; ``GET /_hits`` returns them, ``DELETE /_hits`` forgets them.
A JSON body's ``k`` names the job: ``GET /_keys`` returns each key's arrival times (a job run twice
shows twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from types import TracebackType

import httpx
from aiohttp import web


def _app() -> web.Application:
    hits: list[float] = []
    keys: dict[str, list[float]] = {}

    async def hit(request: web.Request) -> web.Response:
        at = time.time()
        hits.append(at)
        if request.can_read_body:
            with contextlib.suppress(ValueError):
                body = await request.json()
                if isinstance(body, dict) and "k" in body:
                    keys.setdefault(str(body["k"]), []).append(at)
        return web.json_response({"ok": True})

    async def read(request: web.Request) -> web.Response:
        return web.json_response(hits)

    async def read_keys(request: web.Request) -> web.Response:
        return web.json_response(keys)

    async def clear(request: web.Request) -> web.Response:
        hits.clear()
        keys.clear()
        return web.json_response([])

    app = web.Application()
    app.router.add_get("/_hits", read)
    app.router.add_get("/_keys", read_keys)
    app.router.add_delete("/_hits", clear)
    app.router.add_route("*", "/{tail:.*}", hit)
    return app


class Target:
    """The target process, started on ``port``; its hit times are read over HTTP."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._http = httpx.AsyncClient(base_url=self.url)

    async def __aenter__(self) -> Target:
        self._process = subprocess.Popen([sys.executable, "-m", "bench.target", str(self._port)])
        for _ in range(100):
            try:
                await self.clear()
                return self
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the bench target did not listen on {self.url}")

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self._http.aclose()
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    async def hits(self) -> list[float]:
        response = await self._http.get("/_hits")
        return [float(t) for t in response.json()]

    async def keys(self) -> dict[str, list[float]]:
        """Each job key's arrival times (the ``k`` of a request's JSON body)."""
        response = await self._http.get("/_keys")
        return {str(k): [float(t) for t in v] for k, v in response.json().items()}

    async def clear(self) -> None:
        (await self._http.delete("/_hits")).raise_for_status()


if __name__ == "__main__":
    web.run_app(_app(), host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
