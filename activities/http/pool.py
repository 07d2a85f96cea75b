"""The worker's shared HTTP client: its connections as separate one-connection lanes, per origin.

httpcore's connection pool does work proportional to its connections and waiting requests on every
request and every response (``_assign_requests_to_connections`` matches each waiting request
against each connection and polls idle ones): with a herd of jobs due at one instant, hundreds of
requests waiting on a 100-connection pool took most of a worker's CPU (measured: 4.3 million
``can_handle_request`` calls for 400 requests), and keeping 100 connections alive was slower still
(each idle one polled). Here each lane is a pool of one connection, kept alive; a request takes a
free lane of its origin (the one used last: its connection is warm) or waits for one, and hands it
back when its response is closed. No pool ever holds more than one connection or one request, and a
herd reuses its connections instead of opening one per request.

Lanes belong to one origin (scheme, host, port; and proxy): several apps called in turn each keep
their warm connections instead of closing each other's. An origin has at most ``max_connections``
lanes, all origins together at most ``total_lanes``; at that bound a new origin's lane replaces the
least recently used idle lane of another origin, or waits for one to come free.

Proxies: a custom transport makes httpx ignore ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/
``NO_PROXY``, so the entry point reads them (``ductape_jobs.settings``) and ``worker_http_client`` mounts
proxied lane transports the way httpx would mount its own (``proxy_mounts``).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Mapping

import httpx

DEFAULT_LIMITS = httpx.Limits(max_connections=100)
"""Lanes (connections) the worker's client opens at most per origin."""

DEFAULT_TOTAL_LANES = 256
"""Lanes of all origins together: open sockets stay bounded however many apps a config names."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


def worker_http_client(
    *,
    limits: httpx.Limits = DEFAULT_LIMITS,
    total_lanes: int = DEFAULT_TOTAL_LANES,
    proxies: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """The ``httpx.AsyncClient`` the worker's activities share (no redirects followed: an action's
    URL is what the config says). ``proxies``: the proxy environment as ``urllib.request.getproxies``
    gives it (``{"http": url, "https": url, "all": url, "no": "host,.domain"}``), read at the entry point.
    """
    lanes = Lanes(per_origin=limits.max_connections or 100, total=total_lanes, keepalive_expiry=limits.keepalive_expiry)
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {
        pattern: None if url is None else LaneTransport(lanes=lanes, proxy=httpx.Proxy(url))
        for pattern, url in proxy_mounts(proxies or {}).items()
    }
    return httpx.AsyncClient(follow_redirects=False, transport=LaneTransport(lanes=lanes), mounts=mounts)


def proxy_mounts(proxies: Mapping[str, str]) -> dict[str, str | None]:
    """httpx's mounts for a proxy environment: URL pattern -> proxy URL, or None where ``no`` exempts
    it (as ``httpx._utils.get_environment_proxies`` builds them from ``getproxies()``)."""
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        if proxies.get(scheme):
            url = proxies[scheme]
            mounts[f"{scheme}://"] = url if "://" in url else f"http://{url}"
    for raw in proxies.get("no", "").split(","):
        host = raw.strip()
        if host == "*":
            return {}  # NO_PROXY=* turns every proxy off
        if not host:
            continue
        # Curl's NO_PROXY rules, as httpx reads them: ".example.com" exempts its subdomains only,
        # "example.com" the domain and its subdomains; addresses and localhost match exactly.
        if "://" in host:
            mounts[host] = None
        elif _is_ip(host, 4) or host.lower() == "localhost":
            mounts[f"all://{host}"] = None
        elif _is_ip(host, 6):
            mounts[f"all://[{host}]"] = None
        else:
            mounts[f"all://*{host}"] = None
    return mounts


def _is_ip(host: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(host.split("/")[0]).version == version
    except ValueError:
        return False


_Key = tuple[str, str, str, int]
"""Proxy URL ('' for none), scheme, host, port."""


class _Origin:
    __slots__ = ("idle", "key", "lanes", "proxy", "waiters")

    def __init__(self, key: _Key, proxy: httpx.Proxy | None) -> None:
        self.key = key
        self.proxy = proxy
        self.lanes = 0
        self.idle: list[_Lane] = []  # last in, first out: the lane used last is likeliest alive
        self.waiters: deque[asyncio.Future[_Grant]] = deque()


class _Lane:
    __slots__ = ("origin", "transport")

    def __init__(self, origin: _Origin, transport: httpx.AsyncHTTPTransport) -> None:
        self.origin = origin
        self.transport = transport


_Grant = tuple[_Lane, "_Lane | None"]
"""A lane to use, and another origin's idle lane it replaced, which the receiver closes."""


class Lanes:
    """The lanes of one client, by origin: at most ``per_origin`` each and ``total`` in all."""

    def __init__(self, *, per_origin: int, total: int, keepalive_expiry: float | None) -> None:
        self._per_origin = per_origin
        self._most = max(total, 1)
        self._expiry = keepalive_expiry
        self._ssl = httpx.create_ssl_context()  # one for all lanes: each would load the CA bundle
        self._origins: dict[_Key, _Origin] = {}
        self._total = 0
        self._idle: OrderedDict[_Lane, None] = OrderedDict()  # every idle lane, least recently used first
        self._starved: deque[tuple[_Origin, asyncio.Future[_Grant]]] = deque()
        """Waiters whose origin may open a lane but the total bound is reached."""
        self._open_lanes: set[_Lane] = set()
        self._closing: set[asyncio.Task[None]] = set()

    async def acquire(self, request: httpx.Request, proxy: httpx.Proxy | None) -> _Lane:
        """A lane for the request's origin, waiting for one if the origin's or the total bound is reached."""
        url = request.url
        key = (
            "" if proxy is None else str(proxy.url),
            url.scheme,
            url.host,
            url.port or _DEFAULT_PORTS.get(url.scheme, 0),
        )
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = _Origin(key, proxy)
        if origin.idle:
            lane = origin.idle.pop()
            del self._idle[lane]
            return lane
        under_own_bound = origin.lanes < self._per_origin
        if under_own_bound and self._total < self._most:
            return self._open(origin)
        if under_own_bound and self._idle:
            replaced, _ = self._idle.popitem(last=False)
            replaced.origin.idle.remove(replaced)
            self._forget(replaced)
            lane = self._open(origin)
            await self._close(replaced, lane)
            return lane
        waiter: asyncio.Future[_Grant] = asyncio.get_running_loop().create_future()
        origin.waiters.append(waiter)
        if under_own_bound:
            self._starved.append((origin, waiter))
        try:
            granted, dropped = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                granted, dropped = waiter.result()
                if dropped is not None:
                    self._close_later(dropped)
                self.release(granted)
            raise
        if dropped is not None:
            await self._close(dropped, granted)
        return granted

    def release(self, lane: _Lane) -> None:
        """Hand ``lane`` to a waiter of its origin, or make room with it for a starved origin, or idle it."""
        origin = lane.origin
        while origin.waiters:
            waiter = origin.waiters.popleft()
            if not waiter.done():
                waiter.set_result((lane, None))
                return
        while self._starved:
            other, waiter = self._starved.popleft()
            if not waiter.done() and other.lanes < self._per_origin:
                self._forget(lane)
                waiter.set_result((self._open(other), lane))
                return
        origin.idle.append(lane)
        self._idle[lane] = None

    async def aclose(self) -> None:
        lanes, self._open_lanes = self._open_lanes, set()
        for lane in lanes:
            await lane.transport.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _open(self, origin: _Origin) -> _Lane:
        limits = httpx.Limits(max_connections=1, keepalive_expiry=self._expiry)
        lane = _Lane(origin, httpx.AsyncHTTPTransport(verify=self._ssl, limits=limits, proxy=origin.proxy))
        origin.lanes += 1
        self._total += 1
        self._open_lanes.add(lane)
        return lane

    def _forget(self, lane: _Lane) -> None:
        origin = lane.origin
        origin.lanes -= 1
        self._total -= 1
        self._open_lanes.discard(lane)
        if not origin.lanes and not origin.waiters:
            del self._origins[origin.key]  # origins come and go (callback URLs): keep only those in use

    async def _close(self, replaced: _Lane, holding: _Lane) -> None:
        try:
            await replaced.transport.aclose()
        except asyncio.CancelledError:
            self.release(holding)
            raise

    def _close_later(self, lane: _Lane) -> None:
        task = asyncio.get_running_loop().create_task(lane.transport.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


class LaneTransport(httpx.AsyncBaseTransport):
    """Requests on one-connection transports (lanes) of their origin, each lent to one request until
    its response body is closed; ``proxy``: the proxy its lanes go through (a mount of the client)."""

    def __init__(
        self, *, lanes: Lanes | None = None, limits: httpx.Limits = DEFAULT_LIMITS, proxy: httpx.Proxy | None = None
    ) -> None:
        self._lanes = lanes or Lanes(
            per_origin=limits.max_connections or 100,
            total=DEFAULT_TOTAL_LANES,
            keepalive_expiry=limits.keepalive_expiry,
        )
        self._proxy = proxy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        lane = await self._lanes.acquire(request, self._proxy)
        try:
            response = await lane.transport.handle_async_request(request)
        except BaseException:
            self._lanes.release(lane)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _LaneStream(response.stream, lambda: self._lanes.release(lane))
        return response

    async def aclose(self) -> None:
        # The client closes its transport and each mount: the first closes the shared lanes.
        await self._lanes.aclose()


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
