"""The subscribe activity: take messages from a topic and hand each to a target event, at least once.

A message is acknowledged only after its target succeeded. When the target fails, the message is
left for the broker to deliver again (Redis: it stays in the consumer's pending list and is read
first, with ID ``0``, by the next attempt; RabbitMQ: nack with requeue; NATS: nak), and the
activity fails with the target's error type, so the job's retry policy decides what happens next
(a 5xx or a connection error is retried, a 4xx is not; the message then waits for the next run).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio import activity

from ductape_jobs.activities.action.activity import ActionActivities
from ductape_jobs.activities.broker.clients import (
    KEY_HEADER,
    Buffer,
    amqp_channel,
    classified,
    decode,
    jetstream,
    redis_client,
    sleep_until,
)
from ductape_jobs.activities.broker.config import BrokerEvent
from ductape_jobs.activities.broker.inbox import Delivery, Inbox, loop_time, text
from ductape_jobs.activities.broker.mqtt_inbox import MqttInbox
from ductape_jobs.activities.broker.publish_activity import ResolvedBroker, resolve_broker
from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.workflows.contracts.broker import (
    SUBSCRIBE_ACTIVITY,
    ISubscribeRequest,
    ReceivedMessage,
    SubscribeResult,
)
from ductape_jobs.workflows.contracts.job import EventActivityInput, JobContext

RunTarget = Callable[[JobContext, dict[str, Any]], Awaitable[Any]]
"""Runs the target event of one message in-process; raises ``JobFailure`` when it fails."""

DEFAULT_ATTEMPT = timedelta(seconds=60)

MIN_FETCH_S = 0.25
"""Shortest NATS pull request: long enough for the server to answer with what it already has."""


class RedisInbox:
    """Consumer group ``group`` (consumer of the same name): own pending entries first, then new ones."""

    def __init__(self, client: Any, event: BrokerEvent) -> None:
        self._client = client
        self._topic = event.topic
        self._group = event.group
        self._buffer = Buffer()
        self._pending_done = False

    async def open(self) -> None:
        with classified("redis", f"XGROUP CREATE {self._topic}"):
            try:
                # From ID 0: entries added before the first subscribe are delivered too.
                await self._client.xgroup_create(self._topic, self._group, id="0", mkstream=True)
            except Exception as err:
                if "BUSYGROUP" not in str(err):
                    raise

    async def next(self, deadline: float, limit: int) -> Delivery | None:
        found = self._buffer.pop()
        if found is not None:
            return found  # type: ignore[no-any-return]
        with classified("redis", f"XREADGROUP {self._topic}"):
            while not self._pending_done:
                entries = await self._read("0", limit, None)
                live = [(i, f) for i, f in entries if f]
                # An entry deleted while pending reads back without fields: nothing to deliver.
                for entry_id, _ in (e for e in entries if not e[1]):
                    await self._client.xack(self._topic, self._group, entry_id)
                if live:
                    self._buffer.items = [self._delivery(i, f, redelivered=True) for i, f in live]
                    return self._buffer.pop()
                self._pending_done = not entries
            remaining_ms = int((deadline - loop_time()) * 1000)
            entries = await self._read(">", limit, remaining_ms if remaining_ms > 0 else None)
        self._buffer.items = [self._delivery(i, f, redelivered=False) for i, f in entries]
        return self._buffer.pop()

    async def _read(self, start: str, limit: int, block_ms: int | None) -> list[tuple[Any, Any]]:
        reply = await self._client.xreadgroup(
            self._group, self._group, {self._topic: start}, count=limit, block=block_ms
        )
        if not reply:
            return []
        return list(reply[0][1])

    def _delivery(self, entry_id: Any, fields: dict[Any, Any], *, redelivered: bool) -> Delivery:
        data = {text(k): v for k, v in fields.items()}
        if "message" in data:
            message = decode(data["message"] if isinstance(data["message"], bytes) else str(data["message"]).encode())
            headers = json.loads(text(data["headers"])) if "headers" in data else {}
            key = text(data["key"]) if "key" in data else None
        else:  # written by another producer: hand over its fields as they are
            message, headers, key = {k: text(v) for k, v in data.items()}, {}, None
        received = ReceivedMessage(
            id=text(entry_id), message=message, key=key, headers=headers, redelivered=redelivered
        )
        return Delivery(received=received, handle=entry_id)

    async def ack(self, delivery: Delivery) -> None:
        with classified("redis", f"XACK {self._topic}"):
            await self._client.xack(self._topic, self._group, delivery.handle)

    async def reject(self, delivery: Delivery) -> None:
        return None  # stays in the pending list, read first by the next attempt

    async def release(self) -> None:
        return None  # buffered entries are pending too


class RabbitInbox:
    """``basic.get`` with manual acknowledgement from the durable queue ``topic``."""

    def __init__(self, channel: Any, event: BrokerEvent) -> None:
        self._channel = channel
        self._topic = event.topic
        self._queue: Any = None

    async def open(self) -> None:
        with classified("rabbitmq", f"declare queue {self._topic}"):
            self._queue = await self._channel.declare_queue(self._topic, durable=True)

    async def next(self, deadline: float, limit: int) -> Delivery | None:
        while True:
            with classified("rabbitmq", f"get from queue {self._topic}"):
                message = await self._queue.get(no_ack=False, fail=False)
            if message is not None:
                return self._delivery(message)
            if not await sleep_until(deadline):
                return None

    @staticmethod
    def _delivery(message: Any) -> Delivery:
        headers = {str(k): text(v) for k, v in (message.headers or {}).items()}
        key = headers.pop(KEY_HEADER, None)
        ident = message.message_id or "sha256:" + hashlib.sha256(message.body).hexdigest()[:32]
        received = ReceivedMessage(
            id=ident, message=decode(message.body), key=key, headers=headers, redelivered=bool(message.redelivered)
        )
        return Delivery(received=received, handle=message)

    async def ack(self, delivery: Delivery) -> None:
        with classified("rabbitmq", f"ack on queue {self._topic}"):
            await delivery.handle.ack()

    async def reject(self, delivery: Delivery) -> None:
        with classified("rabbitmq", f"nack on queue {self._topic}"):
            await delivery.handle.nack(requeue=True)

    async def release(self) -> None:
        return None  # nothing is fetched ahead


class NatsInbox:
    """A durable pull consumer ``group`` on the event's stream and subject."""

    def __init__(self, js: Any, event: BrokerEvent) -> None:
        self._js = js
        self._event = event
        self._sub: Any = None
        self._buffer = Buffer()

    async def open(self) -> None:
        with classified("nats", f"pull consumer {self._event.group}"):
            self._sub = await self._js.pull_subscribe(
                self._event.topic, durable=self._event.group, stream=self._event.stream
            )

    async def next(self, deadline: float, limit: int) -> Delivery | None:
        found = self._buffer.pop()
        if found is not None:
            return found  # type: ignore[no-any-return]
        timeout = max(deadline - loop_time(), MIN_FETCH_S)
        try:
            with classified("nats", f"fetch from {self._event.topic}"):
                messages = await self._sub.fetch(batch=limit, timeout=timeout)
        except JobFailure as err:
            if err.kind == "TIMEOUT":
                return None  # nothing arrived within the window
            raise
        self._buffer.items = [self._delivery(m) for m in messages]
        return self._buffer.pop()

    @staticmethod
    def _delivery(message: Any) -> Delivery:
        headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("Nats-")}
        key = headers.pop(KEY_HEADER, None)
        meta = message.metadata
        received = ReceivedMessage(
            id=str(meta.sequence.stream),
            message=decode(message.data),
            key=key,
            headers=headers,
            redelivered=meta.num_delivered > 1,
        )
        return Delivery(received=received, handle=message)

    async def ack(self, delivery: Delivery) -> None:
        with classified("nats", f"ack on {self._event.topic}"):
            await delivery.handle.ack_sync(timeout=5)

    async def reject(self, delivery: Delivery) -> None:
        with classified("nats", f"nak on {self._event.topic}"):
            await delivery.handle.nak()

    async def release(self) -> None:
        # Fetched but not handed out: give them back now rather than after the ack wait.
        while (left := self._buffer.pop()) is not None:
            with contextlib.suppress(Exception):
                await left.handle.nak()


@contextlib.asynccontextmanager
async def open_inbox(broker: ResolvedBroker) -> AsyncIterator[Inbox]:
    """The broker's inbox for the event, connected and ready; closed (buffer released) on exit.

    Raises:
        JobFailure: a classified connection error.
    """
    inbox: RedisInbox | RabbitInbox | NatsInbox
    if broker.kind == "redis":
        async with redis_client(broker.url) as client:
            inbox = RedisInbox(client, broker.event)
            await inbox.open()
            yield inbox
    elif broker.kind == "rabbitmq":
        async with amqp_channel(broker.url) as channel:
            inbox = RabbitInbox(channel, broker.event)
            await inbox.open()
            yield inbox
    elif broker.kind == "nats":
        async with jetstream(broker.url, broker.event) as (_client, js):
            inbox = NatsInbox(js, broker.event)
            await inbox.open()
            try:
                yield inbox
            finally:
                await inbox.release()
    else:
        mqtt = MqttInbox(broker.url, broker.event)
        await mqtt.open()
        try:
            yield mqtt
        finally:
            await mqtt.release()


def target_input(job: JobContext, broker: ResolvedBroker, received: ReceivedMessage) -> dict[str, Any]:
    """The target action's structured input: the message as body (its fields fill ``:params``) and an
    Idempotency-Key stable across redeliveries of this message, so the target can drop a repeat.

    Raises:
        JobFailure: INVALID_INPUT when the message holds a ``$Secret{`` reference, which the action
            would resolve: data from a broker must never be able to read the worker's secrets.
    """
    if "$Secret{" in json.dumps(received.message):
        raise JobFailure("INVALID_INPUT", f"message {received.id} contains a $Secret{{...}} reference; refused")
    identity = f"{job.product}/{job.env}/{broker.tag}/{broker.event.topic}/{received.id}"
    return {
        "body": received.message,
        "params": received.message if isinstance(received.message, dict) else {},
        "headers": {"Idempotency-Key": str(uuid.uuid5(uuid.NAMESPACE_URL, identity))},
    }


def action_target(actions: ActionActivities) -> RunTarget:
    """Run an app action in-process for a subscribe job (the returned callable raises ``JobFailure``
    exactly as the action activity would classify it)."""

    async def run(job: JobContext, data: dict[str, Any]) -> Any:
        result = await actions.send(EventActivityInput(job=job, input=data))
        return result.model_dump()

    return run


class BrokerSubscribeActivities:
    """``ductape.subscribe``: connects per call; ``run_target`` runs each message's target event."""

    def __init__(self, config: ProductConfig, secrets: SecretStore, run_target: RunTarget) -> None:
        self._config = config
        self._secrets = secrets
        self._run_target = run_target

    @activity.defn(name=SUBSCRIBE_ACTIVITY)
    async def subscribe(self, request: EventActivityInput) -> SubscribeResult:
        """Take up to ``max_messages`` and hand each to the event's target: waits at most ``wait_ms``
        for messages, then keeps taking those already waiting (within half the attempt timeout).

        Raises:
            ApplicationError: the target's error type when a target failed (that message is left
                unacknowledged), CONFIG_ERROR / INVALID_INPUT, or a classified broker error.
        """
        try:
            return await self._subscribe(request)
        except JobFailure as err:
            raise err.to_application_error(request.job.errors) from None

    async def _subscribe(self, request: EventActivityInput) -> SubscribeResult:
        job = request.job
        broker = resolve_broker(self._config, self._secrets, job)
        event = broker.event
        if event.target is None:
            raise JobFailure("CONFIG_ERROR", f"broker event {job.event!r} has no `target` to subscribe with")
        try:
            limits = ISubscribeRequest.model_validate(request.input)
        except ValidationError as err:
            raise JobFailure("INVALID_INPUT", f"subscribe input: {err.errors(include_url=False)[0]['msg']}") from None
        most = limits.max_messages or event.max_messages
        wait_ms = event.wait_ms if limits.wait_ms is None else limits.wait_ms
        start = loop_time()
        deadline = start + wait_ms / 1000
        # Messages already waiting are taken after the window too, but never so long that the
        # attempt's timeout could cut a target call short (at-least-once would still hold).
        attempt = activity.info().start_to_close_timeout or DEFAULT_ATTEMPT
        stop_taking = max(deadline, start + attempt.total_seconds() / 2)
        target_job = job.model_copy(update={"app": event.target.app, "event": event.target.event})
        done: list[str] = []
        async with open_inbox(broker) as inbox:
            while len(done) < most and (not done or loop_time() < stop_taking):
                delivery = await inbox.next(deadline, most - len(done))
                if delivery is None:
                    break
                received = delivery.received
                try:
                    await self._run_target(target_job, target_input(job, broker, received))
                except JobFailure as err:
                    await inbox.reject(delivery)
                    raise JobFailure(
                        err.kind,
                        f"target {event.target.app}/{event.target.event} failed on message {received.id} "
                        f"(left for redelivery): {err.message}",
                        details=err.details,
                        retry_after=err.retry_after,
                    ) from None
                except BaseException:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(inbox.reject(delivery))
                    raise
                await inbox.ack(delivery)
                done.append(received.id)
        activity.logger.info("job %s handed %d message(s) of %s to its target", job.job_id, len(done), event.topic)
        return SubscribeResult(
            broker=broker.tag, kind=broker.kind, topic=event.topic, processed=len(done), message_ids=done
        )
