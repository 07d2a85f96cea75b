"""Shared pieces of the broker tests: a product config with one broker ``bus`` per test, a worker."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape
from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from tests.conftest import SECRETS
from tests.support import services
from tests.support.workers import job_worker

URLS = {
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:$Secret{RABBIT_PASSWORD}@127.0.0.1:5672/",
    "nats": "nats://127.0.0.1:4222",
    "mqtt": "mqtt://127.0.0.1:1883",
}
ADDRESSES = {"redis": services.REDIS, "rabbitmq": services.RABBITMQ, "nats": services.NATS, "mqtt": services.MQTT}
TEST_SECRETS = {**SECRETS, "RABBIT_PASSWORD": "guest"}


def names(kind: str) -> dict[str, str]:
    """Unique topic (and NATS stream) of one test."""
    hexa = uuid.uuid4().hex[:12]
    topic = f"orders.{hexa}.created" if kind in ("nats", "mqtt") else f"orders-{hexa}"
    return {"topic": topic, "stream": f"ORDERS_{hexa}", "group": f"g-{hexa}"}


def broker_config(
    kind: str, topic: str, *, stream: str | None = None, target_url: str = "http://127.0.0.1:1", **event: Any
) -> ProductConfig:
    """Product ``my-product`` with broker ``bus`` (env ``dev`` on ``kind``), its event ``order_created``,
    and an app ``orders`` whose POST ``/orders`` (action ``record_order``) a subscribe can target."""
    definition: dict[str, Any] = {"topic": topic, **event}
    if stream is not None:
        definition["stream"] = stream
    return parse_product_config(
        {
            "products": {
                "my-product": {
                    "envs": ["dev", "prd"],
                    "secrets": ["RABBIT_PASSWORD"],
                    "apps": {
                        "orders": {
                            "envs": {"dev": {"base_url": target_url, "timeout_ms": 5000}},
                            "actions": {
                                "record_order": {"method": "POST", "path": "/orders"},
                                "list_orders": {"method": "GET", "path": "/orders"},
                            },
                        }
                    },
                    "brokers": {
                        "bus": {
                            "envs": {"dev": {"kind": kind, "url": URLS[kind]}},
                            "events": {"order_created": definition},
                        }
                    },
                }
            }
        }
    )


@contextlib.asynccontextmanager
async def ductape_for(env: WorkflowEnvironment, config: ProductConfig) -> AsyncIterator[Ductape]:
    """A worker on a fresh task queue for ``config`` and a client dispatching to it."""
    queue = f"tq-{uuid.uuid4()}"
    secrets = SecretStore(TEST_SECRETS)
    async with job_worker(env.client, task_queue=queue, config=config, secrets=secrets):
        yield Ductape(env.client, task_queue=queue, config=config, secrets=secrets)
