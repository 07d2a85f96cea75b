"""Job-event webhooks: which endpoints want an event, and the signed POST to one of them.

Signature: header ``X-Ductape-Signature: t=<epoch seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``;
receivers recompute it over the raw body and reject old timestamps. ``X-Ductape-Event`` names the event,
``X-Ductape-Delivery`` is unique per event (delivery is at least once: dedupe on it).
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
from temporalio import activity

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretMissingError, SecretStore
from ductape_jobs.activities.errors import JobFailure, error_type_for_status
from ductape_jobs.workflows.contracts.management import (
    JobEvent,
    JobEventTargets,
    WebhookDelivery,
    WebhookDeliveryResult,
)
from ductape_jobs.workflows.names import DELIVER_JOB_EVENT, JOB_EVENT_TARGETS

SIGNATURE_HEADER = "X-Ductape-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class JobEventActivities:
    def __init__(self, config: ProductConfig, secrets: SecretStore, http: httpx.AsyncClient) -> None:
        self._config = config
        self._secrets = secrets
        self._http = http

    @activity.defn(name=JOB_EVENT_TARGETS)
    async def job_event_targets(self, event: JobEvent) -> JobEventTargets:
        product = self._config.products.get(event.job.product)
        hooks = product.webhooks if product is not None else {}
        return JobEventTargets(
            names=[name for name, hook in hooks.items() if not hook.events or event.event in hook.events]
        )

    @activity.defn(name=DELIVER_JOB_EVENT)
    async def deliver_job_event(self, delivery: WebhookDelivery) -> WebhookDeliveryResult:
        """Raises: ApplicationError, retryable unless the webhook is gone from the config or its secret is."""
        try:
            return await self._deliver(delivery)
        except JobFailure as err:
            raise err.to_application_error() from None

    async def _deliver(self, delivery: WebhookDelivery) -> WebhookDeliveryResult:
        product = self._config.products.get(delivery.event.job.product)
        hook = product.webhooks.get(delivery.webhook) if product is not None else None
        if hook is None:
            raise JobFailure("CONFIG_ERROR", f"webhook {delivery.webhook!r} is no longer configured")
        try:
            secret = self._secrets.resolve(hook.secret)
            url = self._secrets.resolve(hook.url)
        except SecretMissingError as err:
            raise JobFailure("SECRET_MISSING", str(err)) from None
        body = delivery.event.model_dump_json().encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secret, timestamp, body),
            "X-Ductape-Event": delivery.event.event,
            "X-Ductape-Delivery": delivery.event.delivery_id,
        }
        try:
            response = await self._http.post(url, content=body, headers=headers, timeout=hook.timeout_ms / 1000)
        except httpx.TimeoutException:
            raise JobFailure("TIMEOUT", f"webhook {delivery.webhook!r} timed out") from None
        except httpx.TransportError as err:
            raise JobFailure("CONNECTION_ERROR", f"webhook {delivery.webhook!r}: {type(err).__name__}") from None
        if response.status_code >= 300:
            kind = error_type_for_status(response.status_code)
            # A receiver's 4xx may be a deploy in progress: every webhook failure is retried.
            raise JobFailure(kind if kind in ("TIMEOUT", "RATE_LIMITED") else "SERVER_ERROR",
                             f"webhook {delivery.webhook!r} answered HTTP {response.status_code}")  # fmt: skip
        return WebhookDeliveryResult(status=response.status_code)
