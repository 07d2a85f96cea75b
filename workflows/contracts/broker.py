"""Shapes of the ``publish`` and ``subscribe`` event types: their input and their result.

Imports nothing of the project (see ``ductape_jobs.workflows.contracts.job``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BrokerKindName = Literal["redis", "rabbitmq", "nats", "mqtt"]


PUBLISH_ACTIVITY = "ductape.publish"
"""The activity that runs a ``publish`` job."""
SUBSCRIBE_ACTIVITY = "ductape.subscribe"
"""The activity that runs a ``subscribe`` job."""


class IPublishRequest(BaseModel):
    """Input of a publish job: the message and its optional key and headers."""

    model_config = ConfigDict(extra="forbid")

    message: Any
    """The payload; sent as JSON (a string is sent as a JSON string)."""
    key: str | None = Field(None, min_length=1)
    """Carried with the message (Redis field ``key``, ``Ductape-Key`` header elsewhere)."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Message headers (Redis: a ``headers`` field holding JSON; MQTT: v5 user properties)."""


class ISubscribeRequest(BaseModel):
    """Input of a subscribe job: optional overrides of the event's configured limits."""

    model_config = ConfigDict(extra="forbid")

    max_messages: int | None = Field(None, ge=1, le=1000)
    wait_ms: int | None = Field(None, ge=0, le=30_000)


class PublishResult(BaseModel):
    """What a publish job returns once the broker accepted the message."""

    broker: str
    """The broker tag."""
    kind: BrokerKindName
    topic: str
    message_id: str | None = None
    """Redis stream entry ID; the AMQP ``message-id`` property on RabbitMQ; MQTT packet id."""
    sequence: int | None = None
    """NATS JetStream stream sequence."""
    duplicate: bool = False
    """NATS: the stream had already stored this message (a retried publish)."""


class ReceivedMessage(BaseModel):
    """One message as a subscribe job hands it to its target (before the target sees it)."""

    id: str
    """Broker-side identity: stream entry ID, stream sequence, AMQP message-id or delivery tag."""
    message: Any
    key: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    redelivered: bool = False


class SubscribeResult(BaseModel):
    """What a subscribe job returns: the messages its target accepted (each then acknowledged)."""

    broker: str
    kind: BrokerKindName
    topic: str
    processed: int
    message_ids: list[str] = Field(default_factory=list)
