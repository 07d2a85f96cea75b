"""The ``brokers`` section of a product: where each message broker lives per env, and its events.

```yaml
brokers:
  bus:
    envs:
      dev: {kind: redis, url: "redis://:$Secret{REDIS_PASSWORD}@127.0.0.1:6379/0"}
      prd: {kind: nats, url: "nats://nats.internal:4222"}
    events:
      order_created: {topic: orders.created, stream: ORDERS}
      orders_in:
        topic: orders.created
        stream: ORDERS
        group: billing
        target: {type: action, app: billing, event: record_order}
        max_messages: 50
        wait_ms: 2000
```

An event is published with ``type: publish``; an event that names a ``target`` can also be
consumed with ``type: subscribe``. ``topic`` means the Redis stream key, the RabbitMQ queue (on
the default exchange), the NATS JetStream subject, or the MQTT topic.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ductape_jobs.activities.config.component_lookup import component_in_env
from ductape_jobs.workflows.contracts.job import JobInputError

BrokerKind = Literal["redis", "rabbitmq", "nats", "mqtt"]

MAX_WAIT_MS = 30_000
"""Longest pull window of a subscribe job: it must leave room for the target calls inside the
job's attempt timeout (60 s for non-action jobs)."""

_SCHEMES: dict[str, tuple[str, ...]] = {
    "redis": ("redis://", "rediss://", "unix://"),
    "rabbitmq": ("amqp://", "amqps://"),
    "nats": ("nats://", "tls://", "ws://", "wss://"),
    "mqtt": ("mqtt://", "mqtts://"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerEnv(_Strict):
    """Where the broker lives in one environment."""

    kind: BrokerKind
    """Which broker: ``redis`` (Streams), ``rabbitmq``, ``nats`` (JetStream) or ``mqtt``."""
    url: str = Field(min_length=1)
    """Connection URL (``redis://``, ``amqp://``, ``nats://``, ``mqtt://``); ``$Secret{...}`` allowed."""

    @model_validator(mode="after")
    def _scheme(self) -> BrokerEnv:
        if "$Secret{" not in self.url.split("://", 1)[0] and not self.url.startswith(_SCHEMES[self.kind]):
            raise ValueError(f"url of a {self.kind} broker must start with one of {list(_SCHEMES[self.kind])}")
        return self


class SubscribeTarget(_Strict):
    """The event each received message is handed to."""

    type: Literal["action"] = "action"
    """Only app actions for now: the message becomes the action's body (and fills ``:params``)."""
    app: str = Field(min_length=1)
    event: str = Field(min_length=1)


class BrokerEvent(_Strict):
    """One event tag of a broker."""

    topic: str = Field(min_length=1)
    """Redis stream key, RabbitMQ queue, NATS subject or MQTT topic."""
    stream: str | None = Field(None, min_length=1)
    """NATS only (required there): the JetStream stream holding ``topic``; created if missing."""
    target: SubscribeTarget | None = None
    """Makes the event subscribable: where each received message goes."""
    group: str = Field("ductape-jobs", min_length=1)
    """Redis consumer group (and consumer name) / NATS durable consumer name."""
    max_messages: int = Field(10, ge=1, le=1000)
    """Most messages one subscribe job takes."""
    wait_ms: int = Field(1000, ge=0, le=MAX_WAIT_MS)
    """How long one subscribe job waits for messages (it stops earlier at ``max_messages``)."""


class BrokerDef(_Strict):
    """A broker tag: its connection per env and its events."""

    envs: dict[str, BrokerEnv]
    events: dict[str, BrokerEvent] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fits_every_env(self) -> BrokerDef:
        kinds = {env.kind for env in self.envs.values()}
        for tag, event in self.events.items():
            if "nats" in kinds and event.stream is None:
                raise ValueError(f"events.{tag}.stream: is required for a nats broker (the JetStream stream name)")
        return self


def broker_event(
    brokers: dict[str, BrokerDef], tag: str, env: str, event: str, *, field: str = "app"
) -> tuple[BrokerEnv, BrokerEvent]:
    """The broker's settings in ``env`` and the event definition.

    Raises:
        JobInputError: naming ``field`` (unknown broker), ``env`` (no settings for it) or ``event``.
    """
    broker = component_in_env("broker", brokers, tag, env, field=field)
    found = broker.events.get(event)
    if found is None:
        raise JobInputError.one("event", f"broker {tag!r} has no event {event!r} (known: {sorted(broker.events)})")
    return broker.envs[env], found


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
