"""The transports of a notification: SMTP, FCM HTTP v1, a Twilio-compatible SMS API, a signed callback.

Each function sends one already rendered ``ChannelDelivery`` with credentials the caller resolved,
and returns the provider's message IDs; failures are ``JobFailure``s typed like ``http_action``'s
(4xx not retried except 408/429, 5xx, timeouts and connection errors retried).

Retries never repeat what already went out: the email's Message-ID is derived from the workflow ID
(a retry after a lost reply re-sends the same message, which receivers dedupe), and push and SMS,
one request per recipient, record each recipient done in the activity's heartbeat, which the next
attempt reads back and skips.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import httpx
from temporalio import activity

from ductape_jobs.activities.action.activity import fill_path
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.activities.http.errors import checked_response
from ductape_jobs.activities.notification.config import CallbackEnv, EmailEnv, PushEnv, SmsEnv
from ductape_jobs.activities.notification.templates import is_html
from ductape_jobs.activities.webhooks.delivery import SIGNATURE_HEADER, signature
from ductape_jobs.workflows.contracts.job import ErrorRules
from ductape_jobs.workflows.contracts.notification import ChannelDelivery


@dataclass
class Sent:
    """What one channel achieved: provider IDs of accepted messages, reasons of refused recipients."""

    message_ids: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Reasons, without the recipients' addresses (personal data stays out of results)."""


def delivery_id(channel: str, extra: str = "") -> str:
    """Stable across the attempts of one job run's channel: the same workflow ID gives the same ID."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ductape-notification/{activity.info().workflow_id}/{channel}{extra}"))


# --------------------------------------------------------------------------------------------
# Email


async def send_email(config: EmailEnv, password: str | None, delivery: ChannelDelivery) -> Sent:
    """One message to all recipients.

    Raises:
        JobFailure: CONNECTION_ERROR / TIMEOUT / SERVER_ERROR (SMTP 4xx) are retried; UNAUTHORIZED,
            RECIPIENT_REJECTED (every recipient refused with 5xx) and CLIENT_ERROR (other 5xx) are not.
    """
    domain = config.from_address.rpartition("@")[2] or "ductape.local"
    message_id = f"<{delivery_id('email')}@{domain}>"
    message = EmailMessage()
    message["From"] = config.from_address
    message["To"] = ", ".join(delivery.recipients)
    message["Subject"] = delivery.subject or ""
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id
    body = delivery.body or ""
    if is_html(body):
        message.set_content(_html_to_text(body))
        message.add_alternative(body, subtype="html")
    else:
        message.set_content(body)
    import aiosmtplib  # the `smtp` extra, imported on use: push, SMS and callbacks need none of it

    try:
        refused, _ = await aiosmtplib.send(
            message,
            sender=config.from_address,
            recipients=delivery.recipients,
            hostname=config.host,
            port=config.port,
            username=config.username,
            password=password if config.username else None,
            use_tls=config.security == "tls",
            start_tls=config.security == "starttls",
            cert_bundle=config.ca_file,
            timeout=config.timeout_ms / 1000,
        )
    except aiosmtplib.SMTPRecipientsRefused as err:
        codes = sorted({r.code for r in err.recipients})
        transient = all(400 <= c < 500 for c in codes)
        raise JobFailure(
            "SERVER_ERROR" if transient else "RECIPIENT_REJECTED",
            f"SMTP server refused all {len(err.recipients)} recipients (codes {codes})",
        ) from None
    except aiosmtplib.SMTPAuthenticationError as err:
        raise JobFailure("UNAUTHORIZED", f"SMTP login refused ({err.code})") from None
    except (aiosmtplib.SMTPTimeoutError, TimeoutError):
        raise JobFailure("TIMEOUT", f"SMTP server {config.host}:{config.port} timed out") from None
    except aiosmtplib.SMTPConnectError as err:
        raise JobFailure("CONNECTION_ERROR", f"SMTP server {config.host}:{config.port}: {err}") from None
    except aiosmtplib.SMTPServerDisconnected:
        raise JobFailure("CONNECTION_ERROR", f"SMTP server {config.host}:{config.port} disconnected") from None
    except aiosmtplib.SMTPResponseException as err:
        kind = "SERVER_ERROR" if 400 <= err.code < 500 else "CLIENT_ERROR"
        raise JobFailure(kind, f"SMTP server answered {err.code}") from None
    except aiosmtplib.SMTPException as err:
        # What is left is a mismatch between the config and the server (no AUTH, no STARTTLS...).
        raise JobFailure("CONFIG_ERROR", f"SMTP server {config.host}:{config.port}: {err}") from None
    except OSError as err:
        raise JobFailure("CONNECTION_ERROR", f"SMTP server {config.host}:{config.port}: {type(err).__name__}") from None
    return Sent(message_ids=[message_id], refused=[f"SMTP {r.code}" for r in refused.values()])


def _html_to_text(body: str) -> str:
    text = re.sub(r"(?is)<(script|style).*?</\1>", "", body)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</h\d>|</li>", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", re.sub(r"<[^>]+>", "", text)).strip()


# --------------------------------------------------------------------------------------------
# Push and SMS: one request per recipient, progress kept in the heartbeat


class _Progress:
    """Recipients (by position) already sent in an earlier attempt of this activity."""

    def __init__(self) -> None:
        self.done: dict[str, str] = {}
        details = activity.info().heartbeat_details
        if details and isinstance(details[-1], dict):
            self.done = {str(k): str(v) for k, v in details[-1].get("done", {}).items()}

    def record(self, index: int, message_id: str) -> None:
        self.done[str(index)] = message_id
        activity.heartbeat({"done": self.done})


async def _each_recipient(
    recipients: Sequence[str], rules: ErrorRules, send_one: Callable[[int, str], Awaitable[str]]
) -> Sent:
    """Send to each recipient not done yet; a refusal that a retry would not fix is recorded and the
    others still get theirs; a retryable failure stops here (the next attempt resumes after the
    last recipient done).

    Raises:
        JobFailure: the retryable failure, or the first refusal when every recipient was refused.
    """
    progress = _Progress()
    sent = Sent()
    first_refusal: JobFailure | None = None
    for index, recipient in enumerate(recipients):
        if str(index) in progress.done:
            sent.message_ids.append(progress.done[str(index)])
            continue
        try:
            message_id = await send_one(index, recipient)
        except JobFailure as err:
            if not err.to_application_error(rules).non_retryable:
                raise
            first_refusal = first_refusal or err
            sent.refused.append(err.message)
            continue
        progress.record(index, message_id)
        sent.message_ids.append(message_id)
    if first_refusal is not None and not sent.message_ids:
        raise first_refusal
    return sent


async def _post(http: httpx.AsyncClient, what: str, timeout_ms: int, **kwargs: Any) -> httpx.Response:
    """Raises: JobFailure typed by status or transport error."""
    timeout = timeout_ms / 1000
    return await checked_response(
        http.post(timeout=timeout, **kwargs),
        what,
        timeout,
        details=lambda response: {"status": response.status_code, "error": _provider_error(response)},
    )


def _provider_error(response: httpx.Response) -> Any:
    """The provider's error code/message (FCM ``error.status``, Twilio ``code``), never the payload."""
    try:
        parsed = response.json()
    except ValueError:
        return None
    if isinstance(parsed, dict):
        inner = parsed.get("error")
        if isinstance(inner, dict):
            return {k: inner[k] for k in ("status", "message") if k in inner}
        return {k: parsed[k] for k in ("code", "message") if k in parsed}
    return None


def _json_field(response: httpx.Response, name: str, what: str) -> str:
    try:
        value = response.json().get(name)
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or not value:
        raise JobFailure("SERVER_ERROR", f"{what} answered {response.status_code} without a `{name}`")
    return value


async def send_push(
    config: PushEnv, token: str, delivery: ChannelDelivery, http: httpx.AsyncClient, rules: ErrorRules
) -> Sent:
    """One FCM HTTP v1 message per device token; the message ID is FCM's ``name``.

    Raises:
        JobFailure: see ``_each_recipient``; a stale token (404) is refused, not retried.
    """
    url = config.url
    headers = {"Authorization": f"Bearer {token}"}

    async def one(index: int, device: str) -> str:
        message: dict[str, Any] = {
            "token": device,
            "notification": {"title": delivery.title or "", "body": delivery.body or ""},
        }
        if delivery.data:
            message["data"] = delivery.data
        what = f"FCM send (device {index + 1})"
        response = await _post(http, what, config.timeout_ms, url=url, json={"message": message}, headers=headers)
        return _json_field(response, "name", what)

    return await _each_recipient(delivery.recipients, rules, one)


async def send_sms(
    config: SmsEnv, auth_token: str, delivery: ChannelDelivery, http: httpx.AsyncClient, rules: ErrorRules
) -> Sent:
    """One Twilio Messages API request per recipient; the message ID is Twilio's ``sid``.

    Raises:
        JobFailure: see ``_each_recipient``.
    """
    url = f"{config.base_url}/2010-04-01/Accounts/{config.account_sid}/Messages.json"
    auth = httpx.BasicAuth(config.account_sid, auth_token)

    async def one(index: int, number: str) -> str:
        what = f"SMS send (recipient {index + 1})"
        response = await _post(
            http,
            what,
            config.timeout_ms,
            url=url,
            data={"To": number, "From": config.from_number, "Body": delivery.body or ""},
            auth=auth,
            headers={"Idempotency-Key": delivery_id("sms", f"/{index}")},
        )
        return _json_field(response, "sid", what)

    return await _each_recipient(delivery.recipients, rules, one)


# --------------------------------------------------------------------------------------------
# Callback


async def send_callback(
    config: CallbackEnv, secret: str, url: str, delivery: ChannelDelivery, http: httpx.AsyncClient
) -> Sent:
    """The input's ``callback.body`` as JSON, signed ``X-Ductape-Signature: t=<unix>,v1=<hex>``.

    The message ID is ``X-Ductape-Delivery``, the same on every attempt so the receiver can dedupe.

    Raises:
        JobFailure: INVALID_INPUT for a missing path parameter, else typed by status.
    """
    payload = delivery.callback
    if payload is None:
        raise JobFailure("INVALID_INPUT", "callback: the delivery has no callback payload")
    target = fill_path(url, payload.params)
    body = json.dumps({} if payload.body is None else payload.body, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(time.time())
    message_id = delivery_id("callback")
    headers = {
        **payload.headers,
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        "X-Ductape-Delivery": message_id,
    }
    query = {k: v if isinstance(v, list) else ("" if v is None else str(v)) for k, v in payload.query.items()}
    timeout = config.timeout_ms / 1000
    call = http.request(config.method, target, params=query, content=body, headers=headers, timeout=timeout)
    await checked_response(call, f"callback {config.method}", timeout)
    return Sent(message_ids=[message_id])
