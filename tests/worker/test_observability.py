"""Metrics, traces and logs of a real worker on the real dev server."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError
from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.session.tokens import issue_session_token
from ductape_jobs.worker.log_setup import REDACTED, JsonFormatter, RedactingFilter
from ductape_jobs.worker.telemetry import Telemetry, build_telemetry
from tests.conftest import CONVERTER, SECRETS, SESSION_KEY
from tests.support.http_target import HttpTarget
from tests.support.ports import free_port
from tests.support.workers import job_worker


def job(event: str, **fields: object) -> dict[str, object]:
    return {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": event, "input": {}} | fields


async def connect(env: WorkflowEnvironment, telemetry: Telemetry) -> Client:
    return await Client.connect(
        env.client.service_client.config.target_host,
        data_converter=CONVERTER,
        runtime=telemetry.runtime,
        interceptors=telemetry.interceptors,
    )


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of one metric in Prometheus text format, as ``(labels, value)``."""
    found = []
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")):
            head, _, value = line.rpartition(" ")
            labels = dict(re.findall(r'(\w+)="([^"]*)"', head))
            found.append((labels, float(value)))
    return found


def ours(text: str, name: str) -> list[float]:
    """The values of ``name`` for the test product's action jobs."""
    wanted = {"product": "my-product", "env": "dev", "event_type": "action"}
    return [value for labels, value in samples(text, name) if wanted.items() <= labels.items()]


async def test_worker_exposes_job_metrics_next_to_temporal_metrics(
    dev_env: WorkflowEnvironment, product_config: ProductConfig, http_target: HttpTarget, task_queue: str
) -> None:
    address = f"127.0.0.1:{free_port()}"
    telemetry = build_telemetry(metrics_address=address, otlp_endpoint=None)
    client = await connect(dev_env, telemetry)
    http_target.script("/missing", [404])
    async with job_worker(client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS)):
        ductape = Ductape(client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))
        for _ in range(2):
            await ductape.jobs.result((await ductape.processor.job.schedule(job("send_welcome_email"))).job_id)
        failing = await ductape.processor.job.schedule(job("missing"))
        with pytest.raises(JobFailedError):
            await ductape.jobs.result(failing.job_id)
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://{address}/metrics")).text
    assert ours(text, "ductape_jobs_completed") == [2.0]
    assert ours(text, "ductape_jobs_failed") == [1.0]
    assert ours(text, "ductape_jobs_started") == [3.0]
    assert ours(text, "ductape_job_start_lateness_count") == [3.0]
    assert ours(text, "ductape_job_start_lateness_bucket"), "lateness is a histogram with buckets"
    assert samples(text, "temporal_workflow_completed"), "Temporal's own runtime metrics are on the same endpoint"
    assert "job:my-product" not in text, "no job IDs in labels"


async def test_one_trace_spans_dispatch_workflow_and_activity(
    dev_env: WorkflowEnvironment, product_config: ProductConfig, task_queue: str
) -> None:
    exporter = InMemorySpanExporter()
    telemetry = build_telemetry(metrics_address=None, otlp_endpoint=None, span_processor=SimpleSpanProcessor(exporter))
    client = await connect(dev_env, telemetry)
    async with job_worker(client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS)):
        ductape = Ductape(client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))
        await ductape.jobs.result((await ductape.processor.job.schedule(job("send_welcome_email"))).job_id)
    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert {"StartWorkflow:JobWorkflow", "RunWorkflow:JobWorkflow", "StartActivity:ductape.run_action"} <= names
    assert "RunActivity:ductape.run_action" in names
    assert len({span.context.trace_id for span in spans if span.context is not None}) == 1


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything any logger writes, at every level, unredacted (so the code itself is checked)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def test_no_token_session_value_or_secret_reaches_a_log(
    dev_env: WorkflowEnvironment,
    product_config: ProductConfig,
    http_target: HttpTarget,
    task_queue: str,
    captured: io.StringIO,
) -> None:
    token = issue_session_token(
        tag="user-session", data={"details": {"email": "grace@example.com"}}, key=SESSION_KEY, now=datetime.now(UTC)
    )
    http_target.script("/flaky", [500, 200])
    async with job_worker(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS)):
        ductape = Ductape(dev_env.client, task_queue=task_queue, config=product_config, secrets=SecretStore(SECRETS))
        result = await ductape.processor.job.schedule(
            job(
                "flaky",
                retries=2,
                retry={"initialDelay": 100},
                session={"tag": "user-session", "token": token},
                input={"body": {"to": "$Session{details}{email}"}},
            )
        )
        await ductape.jobs.result(result.job_id)
    assert http_target.calls("/flaky")[-1].body == {"to": "grace@example.com"}
    logs = captured.getvalue()
    assert "flaky" in logs, "the retried attempt was logged (the capture works)"
    for needle in (token, token[:40], "grace@example.com", SECRETS["EMAIL_KEY"], SESSION_KEY):
        assert needle not in logs


def test_redacting_filter_removes_secrets_tokens_and_credentials() -> None:
    redactor = RedactingFilter(["s3cr3t-value", "abc"])  # too short to redact safely: kept
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "key=%s token=%s %s", None, None)
    record.args = ("s3cr3t-value", jwt, "Authorization: Bearer abcdefghijkl")
    assert redactor.filter(record)
    assert record.getMessage() == f"key={REDACTED} token={REDACTED} Authorization: Bearer {REDACTED}"
    assert redactor.redact("abc stays") == "abc stays"


def test_json_lines_carry_the_redacted_message_and_traceback() -> None:
    redactor = RedactingFilter(["hunter2-password"])
    try:
        raise RuntimeError("login failed with hunter2-password")
    except RuntimeError:
        record = logging.LogRecord("ductape", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    redactor.filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "error"
    assert entry["message"] == "boom"
    assert "RuntimeError: login failed with [redacted]" in entry["exception"]
    assert "hunter2" not in json.dumps(entry)


async def test_waits_for_a_rate_limit_a_slot_and_a_debounce_window_are_counted_by_key_class(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    config = parse_product_config({"products": {"my-product": {"envs": ["dev"], "apps": {"email-service": {
        "envs": {"dev": {"base_url": http_target.url}},
        "rate_limit": {"per_second": 50},
        "actions": {
            "send_welcome_email": {"path": "/v1/welcome"},
            "sync": {"path": "/sync", "rate_limit": {"per_second": 100},
                     "concurrency": {"key": "$Input{body.user}", "limit": 1}},
        },
    }}}}})  # fmt: skip
    http_target.delays["/sync"] = 0.5
    address = f"127.0.0.1:{free_port()}"
    client = await connect(dev_env, build_telemetry(metrics_address=address, otlp_endpoint=None))
    async with job_worker(client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
        ductape = Ductape(client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
        keyed = [await ductape.processor.job.schedule(job("sync", input={"body": {"user": "ann-secret"}}))
                 for _ in range(2)]  # fmt: skip
        debounce = {"key": "$Input{body.user}", "period_ms": 300}
        burst = [
            await ductape.processor.job.schedule(
                job("send_welcome_email", input={"body": {"user": "bob-secret"}}, debounce=debounce)
            )
            for _ in range(2)
        ]
        for result in [*keyed, *burst]:
            await ductape.jobs.result(result.job_id, timeout=30)
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://{address}/metrics")).text

    def by_reason(name: str) -> dict[tuple[str, str], float]:
        return {(labels["reason"], labels["key_class"]): value for labels, value in samples(text, name)
                if labels.get("product") == "my-product"}  # fmt: skip

    assert by_reason("ductape_jobs_waits") == {
        ("concurrency", "$Input{body.user}"): 1.0,  # the second sync waited for the first's slot
        ("debounce", "$Input{body.user}"): 2.0,  # both of the burst waited in the window
        ("rate_limit", "my-product/dev/email-service/sync"): 2.0,
        ("rate_limit", "my-product/dev/email-service"): 1.0,  # the burst's one run
    }
    assert by_reason("ductape_jobs_waits_ended") == by_reason("ductape_jobs_waits")  # nothing waits now
    assert by_reason("ductape_job_wait_count") == by_reason("ductape_jobs_waits")
    assert "secret" not in text, "no key value in any label"
