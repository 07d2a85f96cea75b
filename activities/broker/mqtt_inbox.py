"""The MQTT inbox of subscribe jobs: a persistent session and manual QoS 1 acknowledgements.

An MQTT client normally acknowledges a QoS 1 message as it arrives. Here the PUBACK is held back until
the target succeeded: a message whose target failed stays unacknowledged in the broker's session and
is sent again when the job's retry reconnects with the same client ID (MQTT 5 ``clean_start`` off, a
session that outlives the connection). The session, and so the subscription, exists from the first
run on: like any MQTT subscriber, it sees messages published after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ductape_jobs.activities.broker.clients import KEY_HEADER, classified, decode, mqtt_client
from ductape_jobs.activities.broker.config import BrokerEvent
from ductape_jobs.activities.broker.inbox import Delivery, loop_time, text
from ductape_jobs.workflows.contracts.broker import ReceivedMessage

SESSION_EXPIRY_S = 7 * 24 * 3600
"""How long the broker keeps an idle subscribe session (and its unacknowledged messages)."""


class MqttInbox:
    """QoS 1 subscription to ``topic`` in the persistent session ``ductape-<group>``."""

    def __init__(self, url: str, event: BrokerEvent) -> None:
        self._event = event
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client = mqtt_client(url, identifier=f"ductape-{event.group}", clean_start=False, properties=properties)
        # aiomqtt has no switch for it: paho's own client holds back PUBACKs until `ack`.
        self._client._client.manual_ack_set(True)
        self._messages: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        with classified("mqtt", f"subscribe to {self._event.topic}"):
            await self._client.__aenter__()
            await self._client.subscribe(self._event.topic, qos=1)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._client.messages:
            await self._messages.put(message)

    async def next(self, deadline: float, limit: int) -> Delivery | None:
        try:
            message = await asyncio.wait_for(self._messages.get(), max(deadline - loop_time(), 0.05))
        except TimeoutError:
            return None
        return _delivery(message)

    async def ack(self, delivery: Delivery) -> None:
        with classified("mqtt", f"ack on {self._event.topic}"):
            self._client._client.ack(delivery.handle.mid, 1)

    async def reject(self, delivery: Delivery) -> None:
        return None  # left unacknowledged: the broker sends it again to the next connection

    async def release(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._reader  # a task left pending would be finalized later, mid-import elsewhere
        await self._client.__aexit__(None, None, None)


def _delivery(message: aiomqtt.Message) -> Delivery:
    body = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
    pairs: list[tuple[str, str]] = list(getattr(message.properties, "UserProperty", None) or [])
    headers = {k: text(v) for k, v in pairs}
    key = headers.pop(KEY_HEADER, None)
    # MQTT packet IDs are per connection: the content names the message across redeliveries.
    ident = "sha256:" + hashlib.sha256(str(message.topic).encode() + b"\0" + body).hexdigest()[:32]
    received = ReceivedMessage(id=ident, message=decode(body), key=key, headers=headers, redelivered=_dup(message))
    return Delivery(received=received, handle=message)


def _dup(message: Any) -> bool:
    return bool(getattr(message, "_dup", False) or getattr(message, "dup", False))
