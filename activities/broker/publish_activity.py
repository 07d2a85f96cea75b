"""The publish activity: one message to the event's topic, done only when the broker accepted it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from temporalio import activity

from ductape_jobs.activities.action.activity import idempotency_key
from ductape_jobs.activities.broker.clients import (
    Outgoing,
    encode,
    publish_mqtt,
    publish_nats,
    publish_rabbitmq,
    publish_redis,
)
from ductape_jobs.activities.broker.config import BrokerEvent, broker_event
from ductape_jobs.activities.config.product_config import ConfigError, ProductConfig
from ductape_jobs.activities.config.secrets import SecretMissingError, SecretStore
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.workflows.contracts.broker import PUBLISH_ACTIVITY, BrokerKindName, IPublishRequest, PublishResult
from ductape_jobs.workflows.contracts.job import EventActivityInput, JobContext, JobInputError


@dataclass(frozen=True)
class ResolvedBroker:
    """A job's broker, env settings (URL with secrets filled in) and event."""

    tag: str
    kind: BrokerKindName
    url: str
    event: BrokerEvent


def resolve_broker(config: ProductConfig, secrets: SecretStore, job: JobContext) -> ResolvedBroker:
    """Find the job's broker and event and resolve the URL's secrets.

    Raises:
        JobFailure: CONFIG_ERROR (unknown product, broker, env or event), SECRET_MISSING.
    """
    if job.app is None:
        raise JobFailure("CONFIG_ERROR", f"broker event {job.event!r} has no broker")
    try:
        settings, event = broker_event(config.product(job.product).brokers, job.app, job.env, job.event)
        url = secrets.resolve(settings.url)
    except ConfigError as err:
        raise JobFailure("CONFIG_ERROR", str(err)) from None
    except JobInputError as err:  # the config changed since dispatch
        raise JobFailure("CONFIG_ERROR", err.reason) from None
    except SecretMissingError as err:
        raise JobFailure("SECRET_MISSING", str(err)) from None
    return ResolvedBroker(tag=job.app, kind=settings.kind, url=str(url), event=event)


def parse_publish(data: dict[str, Any]) -> IPublishRequest:
    """The publish input, checked against ``IPublishRequest``.

    Raises:
        JobFailure: INVALID_INPUT naming the offending field.
    """
    try:
        return IPublishRequest.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "input"
        reason = "is required" if first["type"] == "missing" else str(first["msg"])
        raise JobFailure("INVALID_INPUT", f"publish input: {where}: {reason}") from None


class BrokerPublishActivities:
    """``ductape.publish``: connects per call (see ``ductape_jobs.activities.broker.clients``)."""

    def __init__(self, config: ProductConfig, secrets: SecretStore) -> None:
        self._config = config
        self._secrets = secrets

    @activity.defn(name=PUBLISH_ACTIVITY)
    async def publish(self, request: EventActivityInput) -> PublishResult:
        """Send the job's message to its event's topic.

        Raises:
            ApplicationError: INVALID_INPUT / CONFIG_ERROR / SECRET_MISSING (never retried),
                CONNECTION_ERROR / TIMEOUT / SERVER_ERROR (retried).
        """
        try:
            return await self._publish(request)
        except JobFailure as err:
            raise err.to_application_error(request.job.errors) from None

    async def _publish(self, request: EventActivityInput) -> PublishResult:
        broker = resolve_broker(self._config, self._secrets, request.job)
        parsed = parse_publish(request.input)
        out = Outgoing(body=encode(parsed.message), key=parsed.key, headers=parsed.headers, dedupe_id=idempotency_key())
        topic = broker.event.topic
        activity.logger.info("publishing job %s to %s %s/%s", request.job.job_id, broker.kind, broker.tag, topic)
        if broker.kind == "redis":
            accepted = await publish_redis(broker.url, topic, out)
        elif broker.kind == "rabbitmq":
            accepted = await publish_rabbitmq(broker.url, topic, out)
        elif broker.kind == "nats":
            accepted = await publish_nats(broker.url, broker.event, out)
        else:
            accepted = await publish_mqtt(broker.url, topic, out)
        return PublishResult(
            broker=broker.tag,
            kind=broker.kind,
            topic=topic,
            message_id=accepted.message_id,
            sequence=accepted.sequence,
            duplicate=accepted.duplicate,
        )
