"""Talking to the four brokers: connect, publish with a broker acknowledgement, classify failures.

Every call opens its own connection and closes it before returning: a job runs rarely enough that
a connection handshake does not matter, and nothing is left open when a test's or a deployment's
worker stops (the worker has no shutdown hook for shared clients). Publish succeeds only once the
broker has taken the message: Redis ``XADD`` returned its ID, RabbitMQ confirmed it (publisher
confirms, persistent), NATS JetStream stored it (``PubAck``), the MQTT broker sent ``PUBACK``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import aio_pika
import aiomqtt
import aiormq
import nats
import nats.errors
import nats.js.errors
import redis.asyncio as aioredis
import redis.exceptions
from aiormq.abc import DeliveredMessage
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ductape_jobs.activities.broker.config import BrokerEvent
from ductape_jobs.activities.errors import JobFailure

CONNECT_TIMEOUT_S = 5.0
KEY_HEADER = "Ductape-Key"
"""Header (MQTT: user property) carrying a message's ``key`` on brokers without a key field."""


@dataclass(frozen=True)
class Outgoing:
    """A message ready to send: its JSON body and metadata."""

    body: bytes
    key: str | None
    headers: dict[str, str]
    dedupe_id: str
    """Stable across retries of one publish: NATS drops a second copy, RabbitMQ carries it as message-id."""

    def wire_headers(self) -> dict[str, str]:
        return {**self.headers, **({KEY_HEADER: self.key} if self.key is not None else {})}


@dataclass(frozen=True)
class Accepted:
    """The broker's receipt of a published message."""

    message_id: str | None = None
    sequence: int | None = None
    duplicate: bool = False


def encode(message: Any) -> bytes:
    """The message as compact JSON.

    Raises:
        JobFailure: INVALID_INPUT when the message is not JSON-serialisable.
    """
    try:
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as err:
        raise JobFailure("INVALID_INPUT", f"message is not JSON-serialisable: {err}") from None


def decode(body: bytes) -> Any:
    """A received body: its JSON value, or the text when another producer sent non-JSON."""
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


@contextlib.contextmanager
def classified(kind: str, what: str) -> Iterator[None]:
    """Turn a client library's exception into a JobFailure naming ``what`` (never the URL: it may
    hold a password).

    Raises:
        JobFailure: CONNECTION_ERROR, TIMEOUT, CONFIG_ERROR or SERVER_ERROR.
    """
    try:
        yield
    except JobFailure:
        raise
    except (TimeoutError, nats.errors.TimeoutError, redis.exceptions.TimeoutError):
        raise JobFailure("TIMEOUT", f"{kind}: {what} timed out") from None
    except redis.exceptions.ResponseError as err:
        text = str(err)
        wrong = text.startswith("WRONGTYPE")
        raise JobFailure("CONFIG_ERROR" if wrong else "SERVER_ERROR", f"{kind}: {what}: {text[:200]}") from None
    except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError):
        raise JobFailure("CONFIG_ERROR", f"{kind}: {what}: no JetStream stream takes this subject") from None
    except nats.js.errors.APIError as err:
        raise JobFailure("SERVER_ERROR", f"{kind}: {what}: {err.description or err}") from None
    except aio_pika.exceptions.ChannelClosed as err:
        # 404/406 (no such queue, queue declared with other arguments) are configuration problems.
        code = err.args[0] if err.args and isinstance(err.args[0], int) else 0
        failure = "CONFIG_ERROR" if code in (403, 404, 406) else "SERVER_ERROR"
        raise JobFailure(failure, f"{kind}: {what}: channel closed ({err})") from None
    except aio_pika.exceptions.DeliveryError:
        raise JobFailure("SERVER_ERROR", f"{kind}: {what}: the broker refused the message (nack)") from None
    except (
        redis.exceptions.ConnectionError,
        aiormq.exceptions.AMQPError,
        nats.errors.Error,
        aiomqtt.MqttError,
        OSError,
    ) as err:
        raise JobFailure("CONNECTION_ERROR", f"{kind}: {what}: {type(err).__name__}") from None


# ---------------------------------------------------------------------------------------------
# Connections


@contextlib.asynccontextmanager
async def redis_client(url: str) -> AsyncIterator[aioredis.Redis]:
    """A Redis client closed on exit (it connects on first command)."""
    client = aioredis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=None)
    try:
        yield client
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def amqp_channel(url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A channel with publisher confirms on its own connection, closed on exit.

    Raises:
        JobFailure: CONNECTION_ERROR / TIMEOUT when the broker cannot be reached.
    """
    with classified("rabbitmq", "connect"):
        connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT_S)
    try:
        with classified("rabbitmq", "open channel"):
            channel = await connection.channel(publisher_confirms=True)
        yield channel
    finally:
        with contextlib.suppress(Exception):
            await connection.close()


@contextlib.asynccontextmanager
async def jetstream(url: str, event: BrokerEvent) -> AsyncIterator[tuple[NatsClient, JetStreamContext]]:
    """A JetStream context whose event stream exists (created over the event's topic if missing).

    Raises:
        JobFailure: CONNECTION_ERROR / TIMEOUT, SERVER_ERROR when the stream cannot be created.
    """

    async def _quiet(_err: Exception) -> None:
        return None  # connection trouble surfaces as exceptions of the calls; no log spam

    with classified("nats", "connect"):
        client = await nats.connect(
            url, connect_timeout=CONNECT_TIMEOUT_S, allow_reconnect=False, error_cb=_quiet, max_reconnect_attempts=0
        )
    try:
        js = client.jetstream()
        assert event.stream is not None  # the config requires it for a nats broker
        with classified("nats", f"stream {event.stream}"):
            try:
                await js.stream_info(event.stream)
            except nats.js.errors.NotFoundError:
                await js.add_stream(name=event.stream, subjects=[event.topic])
        yield client, js
    finally:
        with contextlib.suppress(Exception):
            await client.close()


def mqtt_client(url: str, **options: Any) -> aiomqtt.Client:
    """An MQTT v5 client (v5 for user properties: headers and key) for ``mqtt://`` or ``mqtts://``;
    ``options`` go to ``aiomqtt.Client`` (a subscriber's client ID and session settings)."""
    parts = urlsplit(url)
    secure = parts.scheme == "mqtts"
    return aiomqtt.Client(
        parts.hostname or "localhost",
        parts.port or (8883 if secure else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=ssl.create_default_context() if secure else None,
        timeout=CONNECT_TIMEOUT_S,
        **options,
    )


# ---------------------------------------------------------------------------------------------
# Publish


async def publish_redis(url: str, topic: str, out: Outgoing) -> Accepted:
    """``XADD`` fields ``message`` (JSON), ``key`` and ``headers`` (JSON) when given.

    Raises:
        JobFailure: classified connection or server error.
    """
    fields: dict[str, str | bytes] = {"message": out.body}
    if out.key is not None:
        fields["key"] = out.key
    if out.headers:
        fields["headers"] = json.dumps(out.headers)
    async with redis_client(url) as client:
        with classified("redis", f"XADD {topic}"):
            entry = await client.xadd(topic, fields)  # type: ignore[arg-type]
    return Accepted(message_id=entry.decode() if isinstance(entry, bytes) else str(entry))


async def publish_rabbitmq(url: str, topic: str, out: Outgoing) -> Accepted:
    """Persistent message on the default exchange to the durable queue ``topic``, confirmed.

    Raises:
        JobFailure: classified connection error, nack, or an unroutable (returned) message.
    """
    async with amqp_channel(url) as channel:
        with classified("rabbitmq", f"publish to queue {topic}"):
            await channel.declare_queue(topic, durable=True)
            result = await channel.default_exchange.publish(
                aio_pika.Message(
                    out.body,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=out.dedupe_id,
                    headers=dict(out.wire_headers()),
                ),
                routing_key=topic,
                mandatory=True,
                timeout=CONNECT_TIMEOUT_S * 2,
            )
    if isinstance(result, DeliveredMessage):
        raise JobFailure("SERVER_ERROR", f"rabbitmq: queue {topic} did not take the message (returned)")
    return Accepted(message_id=out.dedupe_id)


async def publish_nats(url: str, event: BrokerEvent, out: Outgoing) -> Accepted:
    """JetStream publish acknowledged by the stream; ``Nats-Msg-Id`` makes a retried publish a no-op.

    Raises:
        JobFailure: classified connection error, or a subject no stream takes.
    """
    async with jetstream(url, event) as (_client, js):
        with classified("nats", f"publish to {event.topic}"):
            ack = await js.publish(
                event.topic,
                out.body,
                timeout=CONNECT_TIMEOUT_S,
                stream=event.stream,
                headers={**out.wire_headers(), "Nats-Msg-Id": out.dedupe_id},
            )
    return Accepted(sequence=ack.seq, duplicate=bool(ack.duplicate))


async def publish_mqtt(url: str, topic: str, out: Outgoing) -> Accepted:
    """QoS 1 publish: returns once the broker's ``PUBACK`` arrived.

    Raises:
        JobFailure: classified connection error or timeout.
    """
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.ContentType = "application/json"
    wire = out.wire_headers()
    if wire:
        properties.UserProperty = list(wire.items())
    with classified("mqtt", f"publish to {topic}"):
        async with mqtt_client(url) as client:
            await client.publish(topic, out.body, qos=1, properties=properties, timeout=CONNECT_TIMEOUT_S * 2)
    return Accepted()


# ---------------------------------------------------------------------------------------------
# Helpers shared by the inboxes


@dataclass
class Buffer:
    """Deliveries fetched in a batch but not yet handed out."""

    items: list[Any] = field(default_factory=list)

    def pop(self) -> Any | None:
        return self.items.pop(0) if self.items else None


async def sleep_until(deadline: float, step: float = 0.1) -> bool:
    """Sleep one polling step (never past ``deadline``); False when the deadline has passed."""
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining <= 0:
        return False
    await asyncio.sleep(min(step, remaining))
    return True
