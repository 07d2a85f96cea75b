"""The codec server: decodes (and encodes) payloads for the Web UI and ``temporal --codec-endpoint``.

It holds the keys, so it answers only with the token: ``Authorization: Bearer <token>`` (the CLI's
``--codec-auth``, or the UI passing its access token), or the token as a path prefix
``/t/<token>/decode`` (how ``ductape-jobs dev`` wires the local, unauthenticated UI). Browsers get CORS
headers only for the allowed UI origins. Bind it to loopback or put it behind your own auth.

Unencrypted payloads: ``/decode`` hands them back as they are (``viewer_codec``). The codec server
only serves eyes (the Web UI, ``temporal workflow show``): such a payload is already stored in clear,
so showing it reveals nothing, while refusing would fail the UI's whole batch and hide the encrypted
payloads next to it. The refusal that matters is in the clients and workers, which act on what they
read (``ductape_jobs.codec.encryption``); ``/encode`` always encrypts.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Collection, Sequence

from aiohttp import hdrs, web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from ductape_jobs.codec.encryption import EncryptionCodec, Keyring, KeyringError

Coder = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def viewer_codec(keyring: Keyring) -> EncryptionCodec:
    """The codec behind the codec server: encrypts with the active key, decrypts with any, and shows
    unencrypted payloads as they are (see the module's note)."""
    return EncryptionCodec(keyring, accept_plaintext=True)


def build_codec_app(codec: PayloadCodec, *, token: str, allowed_origins: Collection[str]) -> web.Application:
    """An aiohttp app serving ``/encode`` and ``/decode`` (also below ``/t/<token>/``)."""
    if len(token) < 16:
        raise ValueError("the codec server token must be at least 16 characters")
    origins = frozenset(allowed_origins)

    def cors(request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get(hdrs.ORIGIN)
        if origin in origins:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = "POST"
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = "content-type,x-namespace,authorization"
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
            response.headers[hdrs.VARY] = "Origin"

    def authorised(request: web.Request) -> bool:
        offered = request.match_info.get("token")
        if offered is None:
            scheme, _, value = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
            offered = value.strip() if scheme.lower() == "bearer" else ""
        return hmac.compare_digest(offered.encode(), token.encode())

    async def preflight(request: web.Request) -> web.Response:
        response = web.Response()
        cors(request, response)
        return response

    def handler(code: Coder) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            if not authorised(request):
                response = web.json_response({"error": "unauthorized"}, status=401)
            else:
                try:
                    payloads = json_format.Parse(await request.read(), Payloads())
                    result = Payloads(payloads=await code(payloads.payloads))
                    response = web.json_response(text=json_format.MessageToJson(result))
                except (json_format.ParseError, KeyringError) as err:
                    response = web.json_response({"error": str(err)}, status=400)
            cors(request, response)
            return response

        return handle

    app = web.Application(client_max_size=4 * 1024 * 1024)
    for prefix in ("", "/t/{token}"):
        app.router.add_post(f"{prefix}/encode", handler(codec.encode))
        app.router.add_post(f"{prefix}/decode", handler(codec.decode))
        app.router.add_route("OPTIONS", f"{prefix}/encode", preflight)
        app.router.add_route("OPTIONS", f"{prefix}/decode", preflight)
    return app


class CodecServer:
    """The codec app on a host and port for the duration of an ``async with``."""

    def __init__(self, app: web.Application, *, host: str = "127.0.0.1", port: int = 8081) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self._host = host
        self._port = port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def __aenter__(self) -> CodecServer:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        if self._port == 0:
            server = site._server
            assert server is not None
            self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()
