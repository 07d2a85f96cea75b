"""Subscribe jobs through the real Temporal dev server: at least once, acknowledged only after the
target app action succeeded; afterwards the broker holds nothing pending."""

from __future__ import annotations

import json
from typing import Any

import aio_pika
import aiomqtt
import nats
import pytest
import redis.asyncio as aioredis
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError, JobInputError
from tests.support.broker_support import ADDRESSES, broker_config, ductape_for, names
from tests.support.http_target import HttpTarget
from tests.support.services import require_service

TARGET = {"app": "orders", "event": "record_order"}
MESSAGE = {"order_id": "o-99", "total": 7}


def subscribe(**fields: Any) -> dict[str, Any]:
    return {
        "product_tag": "my-product",
        "env": "dev",
        "type": "subscribe",
        "app": "bus",
        "event": "order_created",
        "input": {},
        "retries": 2,
        "retry": {"initialDelay": 200},
    } | fields


async def run_subscribe(ductape: Ductape, **fields: Any) -> Any:
    job = await ductape.processor.job.schedule(subscribe(**fields))
    return await ductape.jobs.result(job.job_id)


def assert_delivered_twice(http_target: HttpTarget) -> None:
    first, second = http_target.calls("/orders")  # 500 then 200: the same message both times
    assert first.body == second.body == MESSAGE
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]


async def test_redis_failed_target_leaves_the_entry_pending_and_the_retry_acks_it(
    dev_env: WorkflowEnvironment, http_target: HttpTarget
) -> None:
    require_service("redis", ADDRESSES["redis"])
    n = names("redis")
    client: Any = aioredis.from_url("redis://127.0.0.1:6379/0")
    http_target.script("/orders", [500, 200])
    config = broker_config(
        "redis", n["topic"], target=TARGET, group=n["group"], wait_ms=300, target_url=http_target.url
    )
    try:
        entry_id = (await client.xadd(n["topic"], {"message": json.dumps(MESSAGE)})).decode()
        async with ductape_for(dev_env, config) as ductape:
            result = await run_subscribe(ductape)
        assert result == {
            "broker": "bus",
            "kind": "redis",
            "topic": n["topic"],
            "processed": 1,
            "message_ids": [entry_id],
        }
        assert_delivered_twice(http_target)
        pending = await client.xpending(n["topic"], n["group"])
        assert pending["pending"] == 0
    finally:
        await client.delete(n["topic"])
        await client.aclose()


async def test_rabbitmq_failed_target_requeues_and_the_retry_acks(
    dev_env: WorkflowEnvironment, http_target: HttpTarget
) -> None:
    require_service("rabbitmq", ADDRESSES["rabbitmq"])
    queue_name = names("rabbitmq")["topic"]
    http_target.script("/orders", [500, 200])
    config = broker_config("rabbitmq", queue_name, target=TARGET, wait_ms=300, target_url=http_target.url)
    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    try:
        channel = await connection.channel()
        await channel.declare_queue(queue_name, durable=True)
        await channel.default_exchange.publish(
            aio_pika.Message(json.dumps(MESSAGE).encode(), message_id="m-1"), routing_key=queue_name
        )
        async with ductape_for(dev_env, config) as ductape:
            result = await run_subscribe(ductape)
        assert result["processed"] == 1
        assert result["message_ids"] == ["m-1"]
        assert_delivered_twice(http_target)
        queue = await channel.declare_queue(queue_name, passive=True)
        assert queue.declaration_result.message_count == 0
        assert queue.declaration_result.consumer_count == 0
    finally:
        await channel.queue_delete(queue_name)
        await connection.close()


async def test_mqtt_failed_target_holds_the_puback_and_the_retry_acks(
    dev_env: WorkflowEnvironment, http_target: HttpTarget
) -> None:
    require_service("mqtt", ADDRESSES["mqtt"])
    n = names("mqtt")
    http_target.script("/orders", [500, 200])
    config = broker_config("mqtt", n["topic"], target=TARGET, group=n["group"], wait_ms=500, target_url=http_target.url)
    try:
        async with ductape_for(dev_env, config) as ductape:
            # The first run opens the persistent session (an MQTT subscriber sees what is published after).
            assert (await run_subscribe(ductape))["processed"] == 0
            async with aiomqtt.Client("127.0.0.1", 1883, protocol=aiomqtt.ProtocolVersion.V5) as publisher:
                await publisher.publish(n["topic"], json.dumps(MESSAGE), qos=1)
            result = await run_subscribe(ductape)
            assert (result["kind"], result["processed"]) == ("mqtt", 1)
            assert_delivered_twice(http_target)
            # Acknowledged after the target's success: the broker does not send it again.
            assert (await run_subscribe(ductape))["processed"] == 0
        assert len(http_target.calls("/orders")) == 2
    finally:
        async with aiomqtt.Client(  # drop the test's session from the broker
            "127.0.0.1", 1883, identifier=f"ductape-{n['group']}", protocol=aiomqtt.ProtocolVersion.V5, clean_start=True
        ):
            pass


async def test_nats_failed_target_naks_and_the_retry_acks(
    dev_env: WorkflowEnvironment, http_target: HttpTarget
) -> None:
    require_service("nats", ADDRESSES["nats"])
    n = names("nats")
    http_target.script("/orders", [500, 200])
    config = broker_config(
        "nats", n["topic"], stream=n["stream"], target=TARGET, group=n["group"], wait_ms=300, target_url=http_target.url
    )
    client = await nats.connect("nats://127.0.0.1:4222")
    js = client.jetstream()
    try:
        await js.add_stream(name=n["stream"], subjects=[n["topic"]])
        ack = await js.publish(n["topic"], json.dumps(MESSAGE).encode())
        async with ductape_for(dev_env, config) as ductape:
            result = await run_subscribe(ductape)
        assert result["message_ids"] == [str(ack.seq)]
        assert_delivered_twice(http_target)
        info = await js.consumer_info(n["stream"], n["group"])
        assert info.num_ack_pending == 0
        assert info.num_pending == 0
        assert info.delivered.stream_seq == ack.seq
    finally:
        await js.delete_stream(n["stream"])
        await client.close()


async def test_redis_subscribe_takes_at_most_max_messages_in_order(
    dev_env: WorkflowEnvironment, http_target: HttpTarget
) -> None:
    require_service("redis", ADDRESSES["redis"])
    n = names("redis")
    client: Any = aioredis.from_url("redis://127.0.0.1:6379/0")
    config = broker_config(
        "redis", n["topic"], target=TARGET, group=n["group"], max_messages=2, wait_ms=0, target_url=http_target.url
    )
    try:
        ids = [(await client.xadd(n["topic"], {"message": json.dumps({"n": i})})).decode() for i in range(3)]
        async with ductape_for(dev_env, config) as ductape:
            first = await run_subscribe(ductape)
            second = await run_subscribe(ductape, input={"max_messages": 5})
            third = await run_subscribe(ductape)
        assert first["message_ids"] == ids[:2]
        assert second["message_ids"] == ids[2:]
        assert third["processed"] == 0
        assert [c.body for c in http_target.calls("/orders")] == [{"n": 0}, {"n": 1}, {"n": 2}]
    finally:
        await client.delete(n["topic"])
        await client.aclose()


async def test_a_message_holding_a_secret_reference_is_refused_and_kept(
    dev_env: WorkflowEnvironment, http_target: HttpTarget
) -> None:
    require_service("redis", ADDRESSES["redis"])
    n = names("redis")
    client: Any = aioredis.from_url("redis://127.0.0.1:6379/0")
    config = broker_config("redis", n["topic"], target=TARGET, group=n["group"], wait_ms=0, target_url=http_target.url)
    try:
        await client.xadd(n["topic"], {"message": json.dumps({"steal": "$Secret{SESSION_KEY}"})})
        async with ductape_for(dev_env, config) as ductape:
            with pytest.raises(JobFailedError) as failed:
                await run_subscribe(ductape)
        assert failed.value.error_type == "INVALID_INPUT"
        assert http_target.calls("/orders") == []
        assert (await client.xpending(n["topic"], n["group"]))["pending"] == 1
    finally:
        await client.delete(n["topic"])
        await client.aclose()


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({}, "has no `target`"),
        ({"target": {"app": "orders", "event": "list_orders"}}, "must send a body"),
        ({"target": {"app": "orders", "event": "nope"}}, "is not an app action"),
    ],
)
async def test_subscribe_dispatch_refuses_an_event_without_a_usable_target(
    dev_env: WorkflowEnvironment, event: dict[str, Any], reason: str
) -> None:
    ductape = Ductape(dev_env.client, task_queue="never-used", config=broker_config("redis", "unused", **event))
    with pytest.raises(JobInputError) as err:
        await ductape.processor.job.schedule(subscribe())
    assert err.value.field == "event"
    assert reason in err.value.reason
