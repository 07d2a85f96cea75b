"""Publish jobs through the real Temporal dev server, read back with each broker's own client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aio_pika
import aiomqtt
import nats
import pytest
import redis.asyncio as aioredis
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError, JobInputError
from ductape_jobs.activities.config.product_config import ConfigError, parse_product_config
from ductape_jobs.planning.plan import JobPlanner
from tests.support.broker_support import ADDRESSES, broker_config, ductape_for, names
from tests.support.services import require_service

MESSAGE = {"order_id": "o-17", "total": 42.5, "items": ["a", "b"]}


def publish(**fields: Any) -> dict[str, Any]:
    return {
        "product_tag": "my-product",
        "env": "dev",
        "broker": "bus",
        "event": "order_created",
        "input": {"message": MESSAGE, "key": "k1", "headers": {"x-trace": "t-1"}},
    } | fields


async def test_publish_to_redis_appends_one_stream_entry(dev_env: WorkflowEnvironment) -> None:
    require_service("redis", ADDRESSES["redis"])
    topic = names("redis")["topic"]
    client: Any = aioredis.from_url("redis://127.0.0.1:6379/0")
    try:
        async with ductape_for(dev_env, broker_config("redis", topic)) as ductape:
            job = await ductape.events.dispatch(publish())
            result = await ductape.jobs.result(job.job_id)
        entries = await client.xrange(topic)
        assert len(entries) == 1
        entry_id, fields = entries[0]
        assert result == {
            "broker": "bus",
            "kind": "redis",
            "topic": topic,
            "message_id": entry_id.decode(),
            "sequence": None,
            "duplicate": False,
        }
        assert json.loads(fields[b"message"]) == MESSAGE
        assert fields[b"key"] == b"k1"
        assert json.loads(fields[b"headers"]) == {"x-trace": "t-1"}
    finally:
        await client.delete(topic)
        await client.aclose()


async def test_publish_to_rabbitmq_is_a_persistent_message_on_the_durable_queue(dev_env: WorkflowEnvironment) -> None:
    require_service("rabbitmq", ADDRESSES["rabbitmq"])
    queue_name = names("rabbitmq")["topic"]
    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True)
        async with ductape_for(dev_env, broker_config("rabbitmq", queue_name)) as ductape:
            job = await ductape.events.dispatch(publish())
            result = await ductape.jobs.result(job.job_id)
        got = await queue.get(no_ack=True, fail=False)
        assert got is not None
        assert json.loads(got.body) == MESSAGE
        assert got.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert got.headers == {"x-trace": "t-1", "Ductape-Key": "k1"}
        assert result["message_id"] == got.message_id
        assert await queue.get(no_ack=True, fail=False) is None  # exactly one message
    finally:
        await channel.queue_delete(queue_name)
        await connection.close()


async def test_publish_to_nats_is_stored_in_the_stream_created_on_demand(dev_env: WorkflowEnvironment) -> None:
    require_service("nats", ADDRESSES["nats"])
    n = names("nats")
    client = await nats.connect("nats://127.0.0.1:4222")
    js = client.jetstream()
    try:
        async with ductape_for(dev_env, broker_config("nats", n["topic"], stream=n["stream"])) as ductape:
            job = await ductape.events.dispatch(publish())
            result = await ductape.jobs.result(job.job_id)
        assert result["sequence"] == 1
        assert (await js.stream_info(n["stream"])).state.messages == 1
        stored = await js.get_msg(n["stream"], result["sequence"])
        assert stored.subject == n["topic"]
        assert stored.data is not None
        assert json.loads(stored.data) == MESSAGE
        assert stored.headers is not None
        assert stored.headers["Ductape-Key"] == "k1"
        assert stored.headers["x-trace"] == "t-1"
    finally:
        await js.delete_stream(n["stream"])
        await client.close()


async def test_publish_to_mqtt_reaches_a_qos1_subscriber(dev_env: WorkflowEnvironment) -> None:
    require_service("mqtt", ADDRESSES["mqtt"])
    topic = names("mqtt")["topic"]
    async with aiomqtt.Client("127.0.0.1", 1883, protocol=aiomqtt.ProtocolVersion.V5) as listener:
        await listener.subscribe(topic, qos=1)
        async with ductape_for(dev_env, broker_config("mqtt", topic)) as ductape:
            job = await ductape.events.dispatch(publish())
            result = await ductape.jobs.result(job.job_id)
        assert (result["kind"], result["topic"]) == ("mqtt", topic)
        async with asyncio.timeout(10):
            message = await anext(aiter(listener.messages))
        assert str(message.topic) == topic
        assert isinstance(message.payload, bytes)
        assert json.loads(message.payload) == MESSAGE
        assert message.qos == 1
        properties: Any = message.properties  # paho sets UserProperty dynamically
        assert dict(properties.UserProperty) == {"x-trace": "t-1", "Ductape-Key": "k1"}


async def test_publish_without_message_fails_once_as_invalid_input(dev_env: WorkflowEnvironment) -> None:
    require_service("redis", ADDRESSES["redis"])
    topic = names("redis")["topic"]
    client: Any = aioredis.from_url("redis://127.0.0.1:6379/0")
    try:
        async with ductape_for(dev_env, broker_config("redis", topic)) as ductape:
            job = await ductape.events.dispatch(publish(input={"key": "k1"}, retries=3))
            with pytest.raises(JobFailedError) as failed:
                await ductape.jobs.result(job.job_id)
        assert failed.value.error_type == "INVALID_INPUT"
        assert "message: is required" in failed.value.message
        assert await client.exists(topic) == 0
    finally:
        await client.aclose()


async def test_unreachable_broker_is_a_connection_error(dev_env: WorkflowEnvironment) -> None:
    config = broker_config("redis", "unused")
    data = config.model_dump()
    data["products"]["my-product"]["brokers"]["bus"]["envs"]["dev"]["url"] = "redis://127.0.0.1:1/0"
    async with ductape_for(dev_env, parse_product_config(data)) as ductape:
        job = await ductape.events.dispatch(publish(retries=1, retry={"initialDelay": 100}))
        with pytest.raises(JobFailedError) as failed:
            await ductape.jobs.result(job.job_id)
    assert failed.value.error_type == "CONNECTION_ERROR"
    assert "127.0.0.1:1" not in failed.value.message  # the URL (it may hold a password) is never reported


@pytest.mark.parametrize(
    ("change", "field"),
    [({"broker": "nope"}, "broker"), ({"event": "nope"}, "event"), ({"env": "prd"}, "env")],
)
async def test_dispatch_names_the_wrong_field(dev_env: WorkflowEnvironment, change: dict[str, str], field: str) -> None:
    config = broker_config("redis", "unused")
    ductape = Ductape(dev_env.client, task_queue="never-used", config=config)
    with pytest.raises(JobInputError) as err:
        await ductape.events.dispatch(publish(**change))
    assert err.value.field == field


def test_config_refuses_a_nats_event_without_stream_and_a_bad_url() -> None:
    with pytest.raises(ConfigError, match=r"events\.order_created\.stream: is required for a nats broker"):
        broker_config("nats", "orders.x")
    with pytest.raises(ConfigError, match="url of a redis broker must start with"):
        parse_product_config(
            {"products": {"p": {"envs": ["dev"], "brokers": {"b": {"envs": {"dev": {"kind": "redis", "url": "x"}}}}}}}
        )


def test_a_publish_job_without_broker_finds_the_one_broker_defining_the_event() -> None:
    planner = JobPlanner(task_queue="tq", config=broker_config("redis", "unused"))
    job = {"product_tag": "my-product", "env": "dev", "type": "publish", "event": "order_created", "input": {}}
    assert planner.plan(None, job).workflow_input.app == "bus"
    with pytest.raises(JobInputError) as err:
        planner.plan(None, job | {"event": "order_deleted"})
    assert err.value.field == "app"
    assert "no broker defines event 'order_deleted'" in err.value.reason
