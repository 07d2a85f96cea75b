"""Pytest fixtures for testing a product's jobs: enable with, in the top-level ``conftest.py``,
``pytest_plugins = ["ductape_jobs.testing.pytest_plugin"]`` and override ``ductape_config`` (and
``ductape_secrets`` if the config declares secrets).

Fixtures (function scope, so every test gets a fresh virtual clock and a fresh target):

* ``ductape_target``: a started ``HttpTarget`` recording every call (``.url``, ``.calls(path)``, ``.script``).
* ``ductape_config``: override point: a ``ProductConfig``, or the path of a YAML config.
* ``ductape_secrets``: override point: a mapping of secret values, or a ``SecretStore`` (default: none).
* ``ductape_env``: a ``DuctapeTestEnv``: the time-skipping server, the product's worker on it, a client.
* ``ductape``: ``ductape_env.ductape``, a connected ``Ductape`` dispatching to that worker.

It is not registered as a ``pytest11`` entry point: installed, it would load into every pytest run of
the environment, the project's own included; a suite opts in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
import pytest_asyncio

from ductape_jobs.activities.config.product_config import ProductConfig, load_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.client import Ductape
from ductape_jobs.testing.environment import DuctapeTestEnv, ductape_test_env
from ductape_jobs.testing.target import HttpTarget


@pytest_asyncio.fixture
async def ductape_target() -> AsyncIterator[HttpTarget]:
    target = HttpTarget()
    await target.start()
    try:
        yield target
    finally:
        await target.stop()


@pytest.fixture
def ductape_config() -> ProductConfig | str | Path:
    pytest.fail(
        "define a `ductape_config` fixture in your conftest.py returning your ProductConfig or its YAML path, e.g. "
        'load_product_config("product.yaml", replace={"https://api.example.com": ductape_target.url})',
        pytrace=False,
    )


@pytest.fixture
def ductape_secrets() -> Mapping[str, str] | SecretStore:
    return {}


@pytest_asyncio.fixture
async def ductape_env(
    ductape_config: ProductConfig | str | Path, ductape_secrets: Mapping[str, str] | SecretStore
) -> AsyncIterator[DuctapeTestEnv]:
    config = ductape_config if isinstance(ductape_config, ProductConfig) else load_product_config(ductape_config)
    secrets = ductape_secrets if isinstance(ductape_secrets, SecretStore) else SecretStore(dict(ductape_secrets))
    async with ductape_test_env(config, secrets=secrets) as env:
        yield env


@pytest.fixture
def ductape(ductape_env: DuctapeTestEnv) -> Ductape:
    return ductape_env.ductape
