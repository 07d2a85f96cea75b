"""Secrets come from the product config, never from a dispatcher: a product declares the names it may
use, the worker holds only those, and a job's input may name only its own product's."""

from __future__ import annotations

import logging
import re
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError, JobInputError
from ductape_jobs.activities.config.product_config import (
    ConfigError,
    ProductConfig,
    load_product_config,
    parse_product_config,
)
from ductape_jobs.activities.config.secrets import (
    SecretMissingError,
    SecretNotDeclaredError,
    SecretsFileError,
    SecretStore,
    read_secrets_file,
)
from ductape_jobs.activities.registry import DESCRIPTOR_OF
from ductape_jobs.activities.session.tokens import issue_session_token
from ductape_jobs.cli import main as cli
from ductape_jobs.planning.inputs import DISPATCH_NAMESPACES
from ductape_jobs.planning.plan import JobPlanner
from ductape_jobs.settings import Settings
from ductape_jobs.worker.log_setup import REDACTED, RedactingFilter
from ductape_jobs.workflows.contracts.job import JobEventType
from tests.conftest import SECRETS, SESSION_KEY, product_config_for
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker

WORKER_ENV = {
    **SECRETS,
    "OTHER_KEY": "other-product-secret-value",
    "TEMPORAL_API_KEY": "worker-only-temporal-api-key",
    "HOME": "/root",
}
"""The worker's environment: the declared secrets of both products, and variables nobody declared."""
UNDECLARED = (
    "secret 'TEMPORAL_API_KEY' is not declared in product 'my-product' (declared: ['EMAIL_KEY', 'SESSION_KEY'])"
)


def two_products(base_url: str) -> ProductConfig:
    """The tests' usual product, and ``other-product`` declaring ``OTHER_KEY``."""
    document = product_config_for(base_url).model_dump(mode="json", by_alias=True)
    document["products"]["other-product"] = {"envs": ["dev"], "secrets": ["OTHER_KEY"]}
    return parse_product_config(document)


# ------------------------------------------------------------------------------------------------
# The store and the secrets file


def test_the_store_holds_only_the_declared_names() -> None:
    config = two_products("http://127.0.0.1:9")
    assert config.declared_secrets() == {"EMAIL_KEY", "SESSION_KEY", "OTHER_KEY"}
    store = SecretStore.from_sources(WORKER_ENV, names=config.declared_secrets())
    assert (
        store.resolve("$Secret{EMAIL_KEY}/$Secret{OTHER_KEY}") == f"{SECRETS['EMAIL_KEY']}/other-product-secret-value"
    )
    for name in ("TEMPORAL_API_KEY", "HOME"):
        with pytest.raises(SecretMissingError):
            store.get(name)
    assert store.values() == {*SECRETS.values(), "other-product-secret-value"}
    assert repr(store) == "SecretStore(3 names)"
    assert SecretStore.from_sources(WORKER_ENV, names=()).values() == set()  # a client without config


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ('K="double quoted"', "double quoted"),
        ("K='single quoted'", "single quoted"),
        ('K = "spaced" ', "spaced"),
        ('export K="exported"', "exported"),
        ('K="inner \\"quotes\\" kept"', 'inner "quotes" kept'),
        ("K='single \\n kept'", "single \\n kept"),
        ('K=""', ""),
        ("K=plain # a comment", "plain"),
        ("K=plain#not-a-comment", "plain#not-a-comment"),
        ("K=a=b", "a=b"),
        ('K="$HOME"', "$HOME"),
        ("K=${HOME}", "${HOME}"),  # never interpolated: a value is the file's, not the environment's
    ],
)
def test_the_secrets_file_is_dotenv(tmp_path: Path, line: str, value: str) -> None:
    file = tmp_path / "worker.secrets"
    file.write_text(f"# comment\n\n{line}\nNEXT=after\n", encoding="utf-8")
    assert read_secrets_file(file) == {"K": value, "NEXT": "after"}
    store = SecretStore.from_sources({"K": "from-env", "HOME": "/root"}, file, names=["K"])
    assert store.get("K") == value


@pytest.mark.parametrize("line", ['K="unterminated', "K=\"mismatched'", 'K="', "no equals sign"])
def test_a_malformed_secrets_file_is_refused_naming_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    """python-dotenv would skip the line, or let an open quote swallow the lines after it (their secrets
    then silently missing); the entry point refuses the file instead, without echoing the line."""
    file = tmp_path / "worker.secrets"
    file.write_text(f'# comment\n\n{line}\nNEXT="after"\n', encoding="utf-8")
    with pytest.raises(SecretsFileError, match=r"^line 3 is not NAME=value"):
        read_secrets_file(file)
    monkeypatch.setattr(cli, "_REDACTOR", RedactingFilter())
    with pytest.raises(ConfigError, match=re.escape(f"secrets file {file}: line 3 ")) as err:
        cli._secrets(Settings(secrets_file=file), parse_product_config({"products": {}}))
    assert line not in str(err.value)


# ------------------------------------------------------------------------------------------------
# The config


def test_a_config_referencing_an_undeclared_secret_fails_to_load_with_the_key_path(tmp_path: Path) -> None:
    file = tmp_path / "product.yaml"
    file.write_text(
        textwrap.dedent(
            """\
            products:
              shop:
                envs: [prd]
                secrets: [SESSION_KEY]
                apps:
                  mail:
                    envs:
                      prd:
                        base_url: https://mail.example.com
                        headers: {Authorization: "Bearer $Secret{EMAIL_KEY}"}
                sessions: {user-session: {key: "$Secret{SESSION_KEY}"}}
                webhooks: {ops: {url: "https://ops.example.com", secret: "$Secret{HOOK_SECRET}"}}
                jobs:
                  nightly: {name: N, event_type: action, event_tag: e, intervals: 60000,
                            input: {to: [x, "$Secret{SESSION_KEY}", "$Secret{EMAIL_KEY}"]}}
              other:
                envs: [prd]
                secrets: [EMAIL_KEY, HOOK_SECRET]
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_product_config(file)
    message = str(err.value)
    # Every undeclared reference is named by its key path; another product's declaration does not count.
    assert "products.shop.apps.mail.envs.prd.headers.Authorization: secret 'EMAIL_KEY' is not declared in " \
        "products.shop.secrets" in message  # fmt: skip
    assert "products.shop.webhooks.ops.secret: secret 'HOOK_SECRET' is not declared in products.shop.secrets" in message
    assert "products.shop.jobs.nightly.input.to.2: secret 'EMAIL_KEY'" in message
    assert "SESSION_KEY" not in message
    file.write_text(
        file.read_text().replace("secrets: [SESSION_KEY]", "secrets: [SESSION_KEY, EMAIL_KEY, HOOK_SECRET]")
    )
    assert load_product_config(file).declared_secrets() == {"SESSION_KEY", "EMAIL_KEY", "HOOK_SECRET"}


@pytest.mark.parametrize("name", ["1A", "A B", "$Secret{A}", "", "A{B}"])
def test_declared_names_follow_the_reference_grammar(name: str) -> None:
    with pytest.raises(ConfigError, match=r"products\.p\.secrets: .* is not a secret name"):
        parse_product_config({"products": {"p": {"envs": ["dev"], "secrets": [name]}}})


def test_the_example_config_declares_what_it_uses() -> None:
    example = load_product_config(Path(__file__).resolve().parents[2] / "examples" / "product.yaml")
    assert example.declared_secrets() == {"EMAIL_KEY", "SESSION_KEY", "PUSH_TOKEN"}


# ------------------------------------------------------------------------------------------------
# Dispatch (a client with the config) and resolution (the worker)

PLANNER = JobPlanner(task_queue="tq", config=two_products("http://127.0.0.1:9"), secrets=SecretStore(SECRETS))
COMMON = {"product_tag": "my-product", "env": "dev", "input": {"body": {"v": "$Secret{TEMPORAL_API_KEY}"}}}
COMPONENT = {"actions": "app", "notifications": "notification", "storage": "storage", "events": "broker",
             "database": "database", "graphs": "graph"}  # fmt: skip


@pytest.mark.parametrize("namespace", DISPATCH_NAMESPACES)
def test_dispatch_refuses_an_undeclared_secret_in_any_namespaces_input(namespace: str) -> None:
    data: dict[str, Any] = {**COMMON, "event": "e"}
    if namespace == "workflows":
        data = {**COMMON, "workflow": "w"}
    else:
        data[COMPONENT[namespace]] = "c"
    with pytest.raises(JobInputError) as err:
        PLANNER.plan(namespace, data)
    assert (err.value.field, err.value.reason) == ("input.body.v", UNDECLARED)


@pytest.mark.parametrize("event_type", sorted(DESCRIPTOR_OF))
def test_schedule_refuses_an_undeclared_secret_for_every_event_type(event_type: JobEventType) -> None:
    data = {**COMMON, "type": event_type.value, "event": "e", "app": "c"}
    data["input"] = {"to": ["ok", "Bearer $Secret{TEMPORAL_API_KEY}"], "fine": "$Secret{EMAIL_KEY}"}
    with pytest.raises(JobInputError) as err:
        PLANNER.plan(None, data)
    assert err.value.problems == [("input.to.1", UNDECLARED)]


def test_a_job_may_not_name_another_products_secret() -> None:
    data = {**COMMON, "app": "email-service", "event": "send_welcome_email", "input": {"k": "$Secret{OTHER_KEY}"}}
    with pytest.raises(JobInputError) as err:
        PLANNER.plan(None, data)
    assert err.value.field == "input.k"
    assert "secret 'OTHER_KEY' is not declared in product 'my-product'" in err.value.reason
    data["input"] = {"k": "$Secret{EMAIL_KEY}"}
    assert PLANNER.plan(None, data).workflow_input.input == {"k": "$Secret{EMAIL_KEY}"}  # unresolved until run time


def test_resolving_an_input_is_scoped_to_the_products_list() -> None:
    store = SecretStore.from_sources(WORKER_ENV, names=["EMAIL_KEY", "OTHER_KEY"])
    value = {"h": {"X": "Bearer $Secret{EMAIL_KEY}"}}
    assert store.resolve_input(value, product="p", declared=["EMAIL_KEY"]) == {
        "h": {"X": f"Bearer {SECRETS['EMAIL_KEY']}"}
    }
    with pytest.raises(SecretNotDeclaredError) as err:
        store.resolve_input({"a": [{"b": "$Secret{OTHER_KEY}"}]}, product="p", declared=["EMAIL_KEY"])
    assert str(err.value) == "input.a.0.b: secret 'OTHER_KEY' is not declared in product 'p' (declared: ['EMAIL_KEY'])"


# ------------------------------------------------------------------------------------------------
# End to end on the dev server


@pytest.fixture
async def config(http_target: HttpTarget) -> ProductConfig:
    return two_products(http_target.url)


@pytest.fixture
async def worker(dev_env: WorkflowEnvironment, config: ProductConfig, task_queue: str) -> AsyncIterator[None]:
    secrets = SecretStore.from_sources(WORKER_ENV, names=config.declared_secrets())
    async with job_worker(
        dev_env.client, task_queue=task_queue, config=config, secrets=secrets, fail_workflow_on_bug=True
    ):
        yield


def action(job_id: str, data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
        "job_id": job_id, "input": data, "retries": 3, "retry": {"initialDelay": 100},
    } | fields  # fmt: skip


async def test_with_the_config_dispatch_refuses_it_and_starts_nothing(
    dev_env: WorkflowEnvironment, config: ProductConfig, task_queue: str, unique: Any
) -> None:
    ductape = Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
    job_id = unique("leak")
    with pytest.raises(JobInputError) as err:
        await ductape.processor.job.schedule(action(job_id, {"body": {"v": "$Secret{TEMPORAL_API_KEY}"}}))
    assert (err.value.field, err.value.reason) == ("input.body.v", UNDECLARED)
    with pytest.raises(RPCError) as missing:
        await dev_env.client.get_workflow_handle(job_id).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


@pytest.mark.parametrize("name", ["TEMPORAL_API_KEY", "OTHER_KEY"])
@pytest.mark.usefixtures("worker")
async def test_without_the_config_the_worker_fails_it_for_good_and_sends_nothing(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str, unique: Any, name: str
) -> None:
    """Undeclared anywhere (a worker env variable), or declared by another product."""
    ductape = Ductape(dev_env.client, task_queue=task_queue)  # no config: dispatch cannot check
    job_id = unique("leak")
    await ductape.processor.job.schedule(action(job_id, {"body": {"v": f"$Secret{{{name}}}"}}))
    with pytest.raises(JobFailedError) as failed:
        await ductape.jobs.result(job_id)
    assert failed.value.error_type == "SECRET_NOT_DECLARED"
    assert f"input.body.v: secret {name!r} is not declared in product 'my-product'" in failed.value.message
    assert WORKER_ENV[name] not in failed.value.message
    assert http_target.requests == []  # the target received nothing at all
    started = [
        e.activity_task_started_event_attributes.attempt
        async for e in dev_env.client.get_workflow_handle(job_id).fetch_history_events()
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert started == [1]  # three retries allowed, none used


@pytest.mark.usefixtures("worker")
async def test_a_declared_secret_named_in_the_input_reaches_the_target(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, config: ProductConfig, task_queue: str, unique: Any
) -> None:
    ductape = Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
    data = {"headers": {"X-Api-Key": "$Secret{EMAIL_KEY}"}, "body": {"sig": "k=$Secret{EMAIL_KEY}"}}
    result = await ductape.processor.job.schedule(action(unique("declared"), data))
    assert (await ductape.jobs.result(result.job_id))["status"] == 200
    (call,) = http_target.calls("/v1/welcome")
    assert call.headers["X-Api-Key"] == SECRETS["EMAIL_KEY"]
    assert call.body == {"sig": f"k={SECRETS['EMAIL_KEY']}"}


@pytest.mark.usefixtures("worker")
async def test_session_data_cannot_put_a_secret_reference_into_the_input(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, config: ProductConfig, task_queue: str, unique: Any
) -> None:
    """An end user's session data (a display name) is not the dispatcher's input: even a declared
    secret's reference coming from it is refused before the action runs."""
    token = issue_session_token(
        tag="user-session", data={"name": "$Secret{EMAIL_KEY}"}, key=SESSION_KEY, now=datetime.now(UTC)
    )
    ductape = Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
    data = {"body": {"hello": "$Session{name}"}}
    result = await ductape.processor.job.schedule(action(unique("smuggle"), data, session=f"user-session:{token}"))
    with pytest.raises(JobFailedError) as failed:
        await ductape.jobs.result(result.job_id)
    assert failed.value.error_type == "INVALID_INPUT"
    assert "session data may not carry $Secret" in failed.value.message
    assert http_target.requests == []


# ------------------------------------------------------------------------------------------------
# Log redaction


def test_the_entry_point_redacts_every_declared_secrets_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Including one the config only declares (for jobs' inputs) and one only the secrets file sets."""
    config = parse_product_config(
        {"products": {"p": {"envs": ["dev"], "secrets": ["USED", "INPUT_ONLY", "FROM_FILE", "UNSET"],
                            "webhooks": {"w": {"url": "https://x.example.com", "secret": "$Secret{USED}"}}}}}
    )  # fmt: skip
    file = tmp_path / "worker.secrets"
    file.write_text('FROM_FILE="file-secret-value"\n', encoding="utf-8")
    monkeypatch.setenv("USED", "used-secret-value")
    monkeypatch.setenv("INPUT_ONLY", "input-only-secret-value")
    monkeypatch.setenv("UNDECLARED_VAR", "not-a-secret-of-ours")
    redactor = RedactingFilter()
    monkeypatch.setattr(cli, "_REDACTOR", redactor)
    with caplog.at_level(logging.WARNING, logger="ductape"):
        store = cli._secrets(Settings(secrets_file=file), config)
    assert "declared secrets not set in the environment or secrets file: UNSET" in caplog.text
    assert store.values() == {"used-secret-value", "input-only-secret-value", "file-secret-value"}
    record = logging.LogRecord("ductape", logging.ERROR, __file__, 1, "call failed: %s %s %s %s", None, None)
    record.args = ("used-secret-value", "Key input-only-secret-value;", "file-secret-value", "not-a-secret-of-ours")
    assert redactor.filter(record)
    assert record.getMessage() == f"call failed: {REDACTED} Key {REDACTED}; {REDACTED} not-a-secret-of-ours"
