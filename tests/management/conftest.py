"""The management tests' job environment: a fresh product on the dev server, its worker and a client
(``identity`` names who the audit trail records; the ``identity`` fixture overrides it per module)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape
from ductape_jobs.activities.config.secrets import SecretStore
from tests.conftest import SECRETS, product_config_for
from tests.support.http_target import HttpTarget
from tests.support.waiting import eventually
from tests.support.workers import job_worker


@dataclass
class Env:
    ductape: Ductape
    product: str
    target: HttpTarget

    def job(self, event: str = "send_welcome_email", **fields: Any) -> dict[str, Any]:
        return {"product_tag": self.product, "env": "dev", "app": "email-service", "event": event, "input": {}} | fields

    async def count(self, clause: str) -> int:
        """How many of this product's job runs the server's visibility store lists under ``clause``."""
        query = f'WorkflowType = "JobWorkflow" AND DuctapeProduct = "{self.product}" AND {clause}'
        return (await self.ductape.client.count_workflows(query)).count

    async def listed(self, clause: str, expected: int, within: float = 30.0) -> None:
        """Wait until visibility lists ``expected`` runs under ``clause`` (a filter acts on what is listed)."""

        async def counted() -> bool:
            return await self.count(clause) == expected

        await eventually(counted, within=within)


def in_(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def identity() -> str | None:
    return None


@pytest.fixture
async def env(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str, identity: str | None
) -> AsyncIterator[Env]:
    product = f"shop-{uuid.uuid4().hex[:8]}"
    config = product_config_for(http_target.url, product)
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
        ductape = Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS),
                          identity=identity)  # fmt: skip
        yield Env(ductape, product, http_target)
