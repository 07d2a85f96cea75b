"""Notification jobs end to end: ``ductape.notifications.dispatch`` on the real dev server, a real
worker, a real SMTP server (aiosmtpd) and real HTTP receivers standing in for FCM and Twilio."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError
from ductape_jobs.workflows import names
from ductape_jobs.workflows.names import SEND_NOTIFICATION
from tests.activities.test_notification_channels import ORDER_INPUT, SECRETS, config_for
from tests.support.notification_receivers import HttpReceivers, SmtpReceiver, start_smtp
from tests.support.workers import job_worker


@pytest.fixture
async def receivers() -> AsyncIterator[HttpReceivers]:
    http = HttpReceivers()
    await http.start()
    yield http
    await http.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpReceiver, int]]:
    receiver = SmtpReceiver()
    controller = start_smtp(receiver, "plain", None)
    yield receiver, controller.port
    controller.stop()


@pytest.fixture
async def ductape(
    dev_env: WorkflowEnvironment, receivers: HttpReceivers, smtp: tuple[SmtpReceiver, int], task_queue: str
) -> AsyncIterator[Ductape]:
    email = {"host": "127.0.0.1", "port": smtp[1], "security": "plain", "from_address": "shop@example.com"}
    config = config_for(receivers, email=email)
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SECRETS):
        yield Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SECRETS)


def dispatch(data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "product_tag": "shop",
        "env": "dev",
        "notification": "orders",
        "event": "order_shipped",
        "input": data,
        "retries": 3,
        "retry": {"initialDelay": 100, "maxDelay": 200},
    } | fields


async def test_each_channel_delivers_once_and_a_failing_sms_never_resends_the_email(
    ductape: Ductape, dev_env: WorkflowEnvironment, receivers: HttpReceivers, smtp: tuple[SmtpReceiver, int]
) -> None:
    receivers.sms_outages = 2  # the SMS provider fails twice, then accepts
    result = await ductape.notifications.dispatch(dispatch(ORDER_INPUT))
    outcome = await ductape.jobs.result(result.job_id)

    channels = outcome["channels"]
    assert {name: report["success"] for name, report in channels.items()} == {
        "email": True, "push": True, "sms": True, "callback": True,
    }  # fmt: skip
    (mail,) = smtp[0].messages  # exactly one email although the SMS channel was retried twice
    assert mail.message["Subject"] == "Salut Ada"  # the French template, with the variable
    html = mail.message.get_body(("html",))
    assert html is not None
    assert "Commande 42" in html.get_content()
    assert channels["email"]["message_id"] == mail.message["Message-ID"]
    (sms,) = receivers.sms
    assert sms["Body"] == "Commande expédiée"
    assert sms["To"] == "+15550111"
    assert channels["sms"]["message_id"].startswith("SM")
    (push,) = receivers.fcm
    assert push["message"]["notification"]["body"] == "Commande 42"
    assert len(receivers.callbacks) == 1

    handle = dev_env.client.get_workflow_handle(result.job_id)
    sends = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert sends.count(SEND_NOTIFICATION) == 4  # one activity per channel, each retried on its own
    description = await handle.describe()
    assert description.typed_search_attributes.get(names.EVENT_TYPE) == "notification"
    assert await description.static_summary() == "notification orders/order_shipped · shop/dev"


async def test_a_channel_that_fails_for_good_is_reported_and_the_others_stand(
    ductape: Ductape, receivers: HttpReceivers, smtp: tuple[SmtpReceiver, int]
) -> None:
    receivers.sms_status_for["+15550111"] = 400  # a permanent refusal: not retried
    data = {k: v for k, v in ORDER_INPUT.items() if k in ("language", "email", "sms")}
    outcome = await ductape.jobs.result((await ductape.notifications.dispatch(dispatch(data))).job_id)
    assert outcome["channels"]["email"]["success"] is True
    assert outcome["channels"]["sms"]["success"] is False
    assert outcome["channels"]["sms"]["error"].startswith("BAD_REQUEST")
    assert len(smtp[0].messages) == 1


async def test_every_channel_failing_fails_the_job(ductape: Ductape, receivers: HttpReceivers) -> None:
    receivers.sms_status_for["+15550111"] = 400
    data = copy.deepcopy({k: v for k, v in ORDER_INPUT.items() if k in ("language", "sms")})
    result = await ductape.notifications.dispatch(dispatch(data))
    with pytest.raises(JobFailedError) as failed:
        await ductape.jobs.result(result.job_id)
    assert failed.value.error_type == "NOTIFICATION_FAILED"
    assert "sms: BAD_REQUEST" in failed.value.message


async def test_an_undeclared_secret_in_the_callback_headers_sends_no_channel_at_all(
    dev_env: WorkflowEnvironment,
    ductape: Ductape,
    receivers: HttpReceivers,
    smtp: tuple[SmtpReceiver, int],
    task_queue: str,
) -> None:
    """A client without the config cannot check it: the worker refuses it before any channel sends."""
    data = copy.deepcopy(ORDER_INPUT)
    data["callback"]["headers"] = {"X-Leak": "$Secret{TEMPORAL_API_KEY}"}
    unchecked = Ductape(dev_env.client, task_queue=task_queue)
    result = await unchecked.notifications.dispatch(dispatch(data))
    with pytest.raises(JobFailedError) as failed:
        await ductape.jobs.result(result.job_id)
    assert failed.value.error_type == "SECRET_NOT_DECLARED"
    assert "input.callback.headers.X-Leak: secret 'TEMPORAL_API_KEY' is not declared" in failed.value.message
    assert (smtp[0].messages, receivers.fcm, receivers.sms, receivers.callbacks) == ([], [], [], [])
