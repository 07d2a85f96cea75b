"""The notification activities, called directly, against real local receivers (see
``tests.support.notification_receivers``: an aiosmtpd SMTP server, and aiohttp servers standing in for FCM
and Twilio, which cannot run here, and for a callback endpoint)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner

from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.notification.activity import NotificationActivities
from ductape_jobs.planning.inputs import normalise_dispatch
from ductape_jobs.planning.plan import plan_job
from ductape_jobs.workflows.contracts.job import EventActivityInput, JobContext, JobInputError
from ductape_jobs.workflows.contracts.notification import ChannelReport, ChannelSendInput, NotificationPlan
from ductape_jobs.workflows.names import SEND_NOTIFICATION
from tests.support.notification_receivers import (
    FCM_TOKEN,
    SMTP_PASSWORD,
    SMTP_USER,
    TWILIO_SID,
    TWILIO_TOKEN,
    HttpReceivers,
    SmtpReceiver,
    self_signed_cert,
    start_smtp,
)
from tests.support.ports import free_port
from tests.support.workers import plain_worker

HOOK_SECRET = "hook-secret-value"
SECRETS = SecretStore(
    {"SMTP_PASSWORD": SMTP_PASSWORD, "FCM_TOKEN": FCM_TOKEN, "TWILIO_TOKEN": TWILIO_TOKEN, "HOOK_SECRET": HOOK_SECRET}
)
MESSAGES = {
    "order_shipped": {
        "email": {
            "subject": {"en": "Hi {{name}}", "fr": "Salut {{ name }}"},
            "template": {"en": "<p>Order {{order}} shipped, {{name}}</p>", "fr": "<p>Commande {{order}}, {{name}}</p>"},
        },
        "push": {
            "title": {"en": "Shipped"},
            "body": {"en": "Order {{order}} is on its way", "fr": "Commande {{order}}"},
        },
    }
}


def config_for(http: HttpReceivers, email: dict[str, Any] | None = None) -> ProductConfig:
    dev: dict[str, Any] = {
        "push": {"url": f"{http.base_url}/v1/projects/p/messages:send", "token": "$Secret{FCM_TOKEN}"},
        "sms": {
            "base_url": http.base_url,
            "account_sid": TWILIO_SID,
            "auth_token": "$Secret{TWILIO_TOKEN}",
            "from_number": "+15550100",
            "timeout_ms": 5000,
        },
        "callback": {"url": f"{http.base_url}/hooks/:order", "secret": "$Secret{HOOK_SECRET}"},
    }
    if email is not None:
        dev["email"] = email
    notification = {"default_language": "en", "envs": {"dev": dev, "prd": {}}, "messages": MESSAGES}
    return parse_product_config(
        {
            "products": {
                "shop": {
                    "envs": ["dev", "prd", "stg"],
                    "notifications": {"orders": notification},
                    "secrets": ["FCM_TOKEN", "TWILIO_TOKEN", "HOOK_SECRET", "SMTP_PASSWORD"],
                }
            }
        }
    )


def job(env: str = "dev") -> JobContext:
    return JobContext(
        job_id="job:shop:dev:order_shipped:1", product="shop", env=env, event="order_shipped", app="orders"
    )


@pytest.fixture
async def http() -> AsyncIterator[HttpReceivers]:
    receivers = HttpReceivers()
    await receivers.start()
    yield receivers
    await receivers.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as shared:
        yield shared


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def smtp(request: pytest.FixtureRequest, cert: tuple[Path, Path]) -> Iterator[tuple[SmtpReceiver, dict[str, Any]]]:
    """An SMTP receiver and the config reaching it; ``security`` from the test's parameter (plain)."""
    security = getattr(request, "param", "plain")
    receiver = SmtpReceiver()
    controller = start_smtp(receiver, security, cert)
    settings: dict[str, Any] = {"host": "127.0.0.1", "port": controller.port, "security": security}
    settings["from_address"] = "shop@example.com"
    if security != "plain":
        settings |= {"username": SMTP_USER, "password": "$Secret{SMTP_PASSWORD}", "ca_file": str(cert[0])}
    yield receiver, settings
    controller.stop()


async def prepare(activities: NotificationActivities, data: dict[str, Any], env: str = "dev") -> NotificationPlan:
    result: NotificationPlan = await ActivityEnvironment().run(
        activities.prepare_notification, EventActivityInput(job=job(env), input=data)
    )
    return result


async def send_all(activities: NotificationActivities, plan: NotificationPlan) -> dict[str, ChannelReport]:
    reports: dict[str, ChannelReport] = {}
    for delivery in plan.deliveries:
        reports[delivery.channel] = await ActivityEnvironment().run(
            activities.send_notification, ChannelSendInput(job=job(), delivery=delivery)
        )
    return reports


ORDER_INPUT: dict[str, Any] = {
    "language": "fr",
    "email": {
        "recipients": ["ada@example.com"],
        "subject": {"name": "Ada"},
        "template": {"name": "Ada <admin>", "order": "42"},
    },
    "push_notification": {
        "title": {},
        "body": {"order": 42},
        "data": {"order": 42, "kind": "ship"},
        "device_token": "dev-1",
    },
    "sms": {"recipients": ["+15550111"], "body": {"en": "Order shipped", "fr": "Commande expédiée"}},
    "callback": {
        "params": {"order": "42"},
        "query": {"source": "job"},
        "headers": {"X-Trace": "t1"},
        "body": {"order": 42},
    },
}


async def test_prepare_renders_the_language_and_the_variables(http: HttpReceivers, client: httpx.AsyncClient) -> None:
    activities = NotificationActivities(
        config_for(http, {"host": "h", "port": 25, "from_address": "a@b.c"}), SECRETS, client
    )
    plan = await prepare(activities, ORDER_INPUT)
    by = {d.channel: d for d in plan.deliveries}
    assert [d.channel for d in plan.deliveries] == ["email", "push", "sms", "callback"]
    assert by["email"].subject == "Salut Ada"
    # A variable put into an HTML body is escaped, the template's own markup is not.
    assert by["email"].body == "<p>Commande 42, Ada &lt;admin&gt;</p>"
    assert by["email"].language == "fr"
    # The push title has no French text: it falls back to the default language.
    assert (by["push"].title, by["push"].body, by["push"].data) == (
        "Shipped",
        "Commande 42",
        {"order": "42", "kind": "ship"},
    )
    assert by["sms"].body == "Commande expédiée"
    plan_en = await prepare(activities, {**ORDER_INPUT, "language": None})
    assert plan_en.deliveries[0].subject == "Hi Ada"
    assert plan_en.deliveries[2].body == "Order shipped"


@pytest.mark.parametrize("smtp", ["plain", "starttls", "tls"], indirect=True)
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # the `tls` receiver: TLS from the start
async def test_email_is_delivered_once_with_a_stable_message_id(
    smtp: tuple[SmtpReceiver, dict[str, Any]], http: HttpReceivers, client: httpx.AsyncClient
) -> None:
    receiver, settings = smtp
    activities = NotificationActivities(config_for(http, settings), SECRETS, client)
    data = {"email": {**ORDER_INPUT["email"], "recipients": ["ada@example.com", "bob@example.com"]}}
    plan = await prepare(activities, data)
    report = (await send_all(activities, plan))["email"]

    assert report.success
    assert report.error is None
    assert len(receiver.messages) == 1
    mail = receiver.messages[0]
    assert mail.rcpt_tos == ["ada@example.com", "bob@example.com"]
    assert mail.mail_from == "shop@example.com"
    assert mail.message["Subject"] == "Hi Ada"
    assert mail.message["Message-ID"] == report.message_id
    html = mail.message.get_body(("html",))
    assert html is not None
    assert "Order 42 shipped, Ada &lt;admin&gt;" in html.get_content()
    assert mail.tls == (settings["security"] != "plain")
    assert receiver.logins == ([] if settings["security"] == "plain" else [SMTP_USER])

    # A retry after a lost reply sends the same message again: same Message-ID, so receivers dedupe.
    again = (await send_all(activities, plan))["email"]
    assert again.message_id == report.message_id == receiver.messages[1].message["Message-ID"]


async def test_email_refused_recipients(
    smtp: tuple[SmtpReceiver, dict[str, Any]], http: HttpReceivers, client: httpx.AsyncClient
) -> None:
    receiver, settings = smtp
    activities = NotificationActivities(config_for(http, settings), SECRETS, client)
    partly = await prepare(
        activities, {"email": {**ORDER_INPUT["email"], "recipients": ["ada@example.com", "reject@example.com"]}}
    )
    report = (await send_all(activities, partly))["email"]
    assert report.success
    assert report.error == "1 refused: SMTP 550"
    assert receiver.messages[0].rcpt_tos == ["ada@example.com"]

    for address, kind, retryable in (
        ("reject@example.com", "RECIPIENT_REJECTED", False),
        ("busy@example.com", "SERVER_ERROR", True),
    ):
        plan = await prepare(activities, {"email": {**ORDER_INPUT["email"], "recipients": [address]}})
        with pytest.raises(ApplicationError) as err:
            await send_all(activities, plan)
        assert (err.value.type, err.value.non_retryable) == (kind, not retryable)
    assert len(receiver.messages) == 1


async def test_email_server_down_is_a_retryable_connection_error(
    http: HttpReceivers, client: httpx.AsyncClient
) -> None:
    settings = {"host": "127.0.0.1", "port": free_port(), "security": "plain", "from_address": "a@example.com"}
    activities = NotificationActivities(config_for(http, settings), SECRETS, client)
    plan = await prepare(activities, {"email": ORDER_INPUT["email"]})
    with pytest.raises(ApplicationError) as err:
        await send_all(activities, plan)
    assert (err.value.type, err.value.non_retryable) == ("CONNECTION_ERROR", False)


async def test_push_sends_one_fcm_message_per_device(http: HttpReceivers, client: httpx.AsyncClient) -> None:
    http.stale_tokens = {"stale"}
    activities = NotificationActivities(config_for(http), SECRETS, client)
    push = {**ORDER_INPUT["push_notification"], "device_token": None, "device_tokens": ["dev-1", "stale", "dev-2"]}
    report = (await send_all(activities, await prepare(activities, {"push_notification": push})))["push"]

    assert [m["message"]["token"] for m in http.fcm] == ["dev-1", "dev-2"]
    assert http.fcm[0]["message"]["notification"] == {"title": "Shipped", "body": "Order 42 is on its way"}
    assert http.fcm[0]["message"]["data"] == {"order": "42", "kind": "ship"}
    assert report.message_ids == ["projects/p/messages/1", "projects/p/messages/2"]
    assert report.message_id == "projects/p/messages/1"
    assert report.success
    assert report.error is not None
    assert "HTTP 404" in report.error


async def test_sms_sends_one_twilio_message_per_recipient(http: HttpReceivers, client: httpx.AsyncClient) -> None:
    activities = NotificationActivities(config_for(http), SECRETS, client)
    sms = {"recipients": ["+15550111", "+15550122"], "body": {"en": "Order shipped"}}
    report = (await send_all(activities, await prepare(activities, {"sms": sms})))["sms"]

    assert http.sms == [
        {"To": "+15550111", "From": "+15550100", "Body": "Order shipped"},
        {"To": "+15550122", "From": "+15550100", "Body": "Order shipped"},
    ]
    assert report.message_ids == [f"SM{1:032d}", f"SM{2:032d}"]
    assert report.error is None


async def test_sms_500_is_retryable_and_the_retry_skips_recipients_already_sent(
    http: HttpReceivers, client: httpx.AsyncClient
) -> None:
    http.sms_status_for = {"+15550122": 500}
    activities = NotificationActivities(config_for(http), SECRETS, client)
    plan = await prepare(activities, {"sms": {"recipients": ["+15550111", "+15550122"], "body": "Shipped"}})
    request = ChannelSendInput(job=job(), delivery=plan.deliveries[0])
    env = ActivityEnvironment()
    heartbeats: list[Any] = []
    env.on_heartbeat = lambda *details: heartbeats.append(details)
    with pytest.raises(ApplicationError) as err:
        await env.run(activities.send_notification, request)
    assert (err.value.type, err.value.non_retryable) == ("SERVER_ERROR", False)
    assert [m["To"] for m in http.sms] == ["+15550111"]

    # The next attempt sees the last heartbeat (Temporal hands it over) and sends the second only.
    http.sms_status_for = {}
    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, attempt=2, heartbeat_details=list(heartbeats[-1]))
    report = await retry.run(activities.send_notification, request)
    assert [m["To"] for m in http.sms] == ["+15550111", "+15550122"]
    assert report.message_ids == [f"SM{1:032d}", f"SM{2:032d}"]


async def test_callback_is_signed(http: HttpReceivers, client: httpx.AsyncClient) -> None:
    activities = NotificationActivities(config_for(http), SECRETS, client)
    before = int(time.time())
    report = (await send_all(activities, await prepare(activities, {"callback": ORDER_INPUT["callback"]})))["callback"]

    [call] = http.callbacks
    assert (call["order"], call["query"], call["headers"]["X-Trace"]) == ("42", {"source": "job"}, "t1")
    assert json.loads(call["raw"]) == {"order": 42}
    parts = dict(p.split("=", 1) for p in call["headers"]["X-Ductape-Signature"].split(","))
    expected = hmac.new(HOOK_SECRET.encode(), f"{parts['t']}.".encode() + call["raw"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert before <= int(parts["t"]) <= int(time.time())
    assert report.message_id == call["headers"]["X-Ductape-Delivery"]


async def test_missing_variable_and_unconfigured_channel_are_invalid_input(
    http: HttpReceivers, client: httpx.AsyncClient
) -> None:
    activities = NotificationActivities(
        config_for(http, {"host": "h", "port": 25, "from_address": "a@b.c"}), SECRETS, client
    )
    missing = {"email": {"recipients": ["a@example.com"], "subject": {"name": "Ada"}, "template": {"name": "Ada"}}}
    with pytest.raises(ApplicationError) as err:
        await prepare(activities, missing)
    assert (err.value.type, err.value.non_retryable) == ("INVALID_INPUT", True)
    assert "email.template" in str(err.value)
    assert "'order'" in str(err.value)

    with pytest.raises(ApplicationError) as err:
        await prepare(activities, {"sms": {"recipients": ["+15550111"], "body": "hi"}}, env="prd")
    assert err.value.type == "INVALID_INPUT"
    assert "sms" in str(err.value)
    assert "'prd'" in str(err.value)

    # No stored SMS text and none in the input's language or the default one.
    with pytest.raises(ApplicationError) as err:
        await prepare(activities, {"language": "de", "sms": {"recipients": ["+1"], "body": {"fr": "x"}}})
    assert err.value.type == "INVALID_INPUT"
    assert "sms.body" in str(err.value)
    assert http.sms == []
    assert http.fcm == []


async def test_dispatch_checks_notification_env_and_event(http: HttpReceivers) -> None:
    config = config_for(http)

    def plan(**overrides: Any) -> None:
        data = {"product": "shop", "env": "dev", "notification": "orders", "event": "order_shipped", "input": {}}
        plan_job(normalise_dispatch("notifications", data | overrides), now=datetime.now(UTC), task_queue="q",
                 config=config, secrets=SECRETS)  # fmt: skip

    plan()
    for overrides, field, words in (
        ({"notification": "nope"}, "notification", "'nope'"),
        ({"event": "order_lost"}, "event", "'order_lost'"),
        ({"env": "stg"}, "env", "'stg'"),
    ):
        with pytest.raises(JobInputError) as err:
            plan(**overrides)
        assert err.value.field == field
        assert words in err.value.reason


@workflow.defn(sandboxed=False)
class SendOneChannel:
    """Just the retried send, as the job workflow runs it for one channel."""

    @workflow.run
    async def run(self, request: ChannelSendInput) -> ChannelReport:
        report: ChannelReport = await workflow.execute_activity(
            SEND_NOTIFICATION,
            request,
            result_type=ChannelReport,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
        )
        return report


async def test_on_the_server_a_retried_sms_skips_recipients_already_sent(
    dev_env: WorkflowEnvironment, http: HttpReceivers, client: httpx.AsyncClient
) -> None:
    http.sms_status_for, http.sms_fail_once = {"+15550122": 503}, True
    activities = NotificationActivities(config_for(http), SECRETS, client)
    plan = await prepare(activities, {"sms": {"recipients": ["+15550111", "+15550122"], "body": "Shipped"}})
    queue = f"notify-{uuid.uuid4()}"
    async with plain_worker(
        dev_env.client,
        task_queue=queue,
        workflows=[SendOneChannel],
        activities=[activities.send_notification],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        report = await dev_env.client.execute_workflow(
            SendOneChannel.run,
            ChannelSendInput(job=job(), delivery=plan.deliveries[0]),
            id=f"notify-{uuid.uuid4()}",
            task_queue=queue,
        )
    # The first attempt sent +15550111 then hit the 503; the retry sent only +15550122.
    assert [m["To"] for m in http.sms] == ["+15550111", "+15550122"]
    assert report.message_ids == [f"SM{1:032d}", f"SM{2:032d}"]
