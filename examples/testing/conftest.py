"""Enabling the ductape testing kit in a suite, and pointing the product config at its target."""

from __future__ import annotations

from pathlib import Path

import pytest

from ductape_jobs.activities.config.product_config import ProductConfig, load_product_config
from ductape_jobs.testing import HttpTarget

pytest_plugins = ["ductape_jobs.testing.pytest_plugin"]

PRODUCT_YAML = Path(__file__).parent / "product.yaml"


@pytest.fixture
def ductape_config(ductape_target: HttpTarget) -> ProductConfig:
    # The production config, with the mailer's base URL swapped for the recording target's.
    return load_product_config(PRODUCT_YAML, replace={"https://mailer.example.com": ductape_target.url})


@pytest.fixture
def ductape_secrets() -> dict[str, str]:
    return {"MAILER_KEY": "test-key"}
