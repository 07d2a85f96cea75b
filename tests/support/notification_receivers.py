"""Real local receivers for the notification tests: an SMTP server (aiosmtpd, plain / STARTTLS /
implicit TLS with a self-signed certificate made here) and one aiohttp server standing in for FCM's
HTTP v1 API, Twilio's Messages API and a callback endpoint.

FCM and Twilio are local stand-ins because the real services cannot run here (and must not be
called from tests); they speak the same wire format: FCM's ``{"message": {...}}`` JSON with a Bearer
token answered by ``{"name": ...}``, Twilio's form-encoded ``To``/``From``/``Body`` with basic auth
answered by ``{"sid": ...}``.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import ssl
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.ports import free_port

SMTP_USER = "mailer"
SMTP_PASSWORD = "smtp-password-value"
FCM_TOKEN = "fcm-token-value"
TWILIO_SID = "AC0123456789"
TWILIO_TOKEN = "twilio-token-value"


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost, valid for a day: ``(cert.pem, key.pem)``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool


@dataclass
class SmtpReceiver:
    """Stores every message it accepts; refuses recipients whose address starts with ``reject``."""

    messages: list[ReceivedMail] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.startswith("reject"):
            return "550 5.1.1 no such user"
        if address.startswith("busy"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(
            ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), parsed, _over_tls(server, session))
        )
        return "250 OK"

    def authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == SMTP_USER
            and auth_data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            self.logins.append(SMTP_USER)
        return AuthResult(success=ok)


def _over_tls(server: SMTPServer, session: Session) -> bool:
    # STARTTLS sets session.ssl; implicit TLS shows only on the transport.
    transport = server.transport
    return session.ssl is not None or (transport is not None and transport.get_extra_info("ssl_object") is not None)


def start_smtp(receiver: SmtpReceiver, security: str, cert: tuple[Path, Path] | None) -> Controller:
    """A started controller on a free loopback port; ``security`` as in the notification config."""
    kwargs: dict[str, Any] = {}
    if security != "plain":
        assert cert is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert[0]), str(cert[1]))
        if security == "starttls":
            kwargs = {
                "tls_context": context,
                "require_starttls": True,
                "authenticator": receiver.authenticate,
                "auth_required": True,
            }
        else:
            # aiosmtpd only counts STARTTLS as TLS for AUTH; this connection is TLS from the start.
            kwargs = {
                "ssl_context": context,
                "authenticator": receiver.authenticate,
                "auth_required": True,
                "auth_require_tls": False,
            }
    controller = Controller(receiver, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


@dataclass
class HttpReceivers:
    """FCM, Twilio and callback stand-ins on one aiohttp server."""

    fcm: list[dict[str, Any]] = field(default_factory=list)
    sms: list[dict[str, str]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    sms_status_for: dict[str, int] = field(default_factory=dict)
    """Recipient number -> error status the Twilio stand-in answers for it."""
    sms_fail_once: bool = False
    """Answer each ``sms_status_for`` error once only (a transient outage)."""
    sms_outages: int = 0
    """Answer this many SMS requests with 503 before accepting any (an outage of the provider)."""
    stale_tokens: set[str] = field(default_factory=set)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/projects/p/messages:send", self._fcm)
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio)
        app.router.add_post("/hooks/{order}", self._callback)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _fcm(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {FCM_TOKEN}":
            return web.json_response({"error": {"status": "UNAUTHENTICATED"}}, status=401)
        payload = await request.json()
        token = payload["message"]["token"]
        if token in self.stale_tokens:
            return web.json_response({"error": {"status": "NOT_FOUND", "message": "UNREGISTERED"}}, status=404)
        self.fcm.append(payload)
        return web.json_response({"name": f"projects/p/messages/{len(self.fcm)}"})

    async def _twilio(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if request.match_info["sid"] != TWILIO_SID or request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        form = {k: str(v) for k, v in (await request.post()).items()}
        if self.sms_outages > 0:
            self.sms_outages -= 1
            return web.json_response({"code": 20503, "message": "Service unavailable"}, status=503)
        status = (self.sms_status_for.pop if self.sms_fail_once else self.sms_status_for.get)(form.get("To", ""), None)
        if status is not None:
            return web.json_response({"code": 20500, "message": "Internal error"}, status=status)
        self.sms.append(form)
        return web.json_response({"sid": f"SM{len(self.sms):032d}", "status": "queued"}, status=201)

    async def _callback(self, request: web.Request) -> web.Response:
        self.callbacks.append(
            {
                "order": request.match_info["order"],
                "query": dict(request.query),
                "headers": dict(request.headers),
                "raw": await request.read(),
                "at": time.time(),
            }
        )
        return web.json_response({"ok": True})
