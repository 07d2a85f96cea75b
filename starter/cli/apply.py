"""``ductape-jobs apply``: make the server's job definitions match the product config's ``jobs``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.management.product_jobs import ProductBuilder, validated_definition
from ductape_jobs.workflows.contracts.dispatch import IProductJob


@dataclass(frozen=True)
class Change:
    action: Literal["create", "update", "delete", "unchanged"]
    product: str
    tag: str


async def plan_changes(builders: dict[str, ProductBuilder], config: ProductConfig) -> list[Change]:
    """What ``apply`` would do. Definitions created through the API are never deleted by it.

    Raises:
        JobInputError: a definition in the config is invalid (names ``products.<p>.jobs.<tag>.<field>``).
    """
    changes: list[Change] = []
    for product, builder in builders.items():
        wanted = {
            tag: validated_definition({**raw, "tag": tag}, field_prefix=f"products.{product}.jobs.{tag}")
            for tag, raw in config.products[product].jobs.items()
        }
        existing = {job.tag: (job, source) for job, source in await builder.definitions()}
        for tag, job in wanted.items():
            if tag not in existing:
                changes.append(Change("create", product, tag))
            else:
                same = _comparable(existing[tag][0]) == _comparable(job)
                changes.append(Change("unchanged" if same else "update", product, tag))
        for tag, (_, source) in existing.items():
            if tag not in wanted and source == "config":
                changes.append(Change("delete", product, tag))
    return changes


def _comparable(job: IProductJob) -> dict[str, object]:
    return job.model_dump(mode="json", exclude_none=True)


async def apply_changes(builders: dict[str, ProductBuilder], config: ProductConfig, changes: list[Change]) -> None:
    reason = "ductape-jobs apply: the product config changed"  # the audit trail tells an apply from an API call
    for change in changes:
        builder = builders[change.product]
        if change.action == "create":
            raw = config.products[change.product].jobs[change.tag]
            await builder.create_job({**raw, "tag": change.tag}, source="config", reason=reason)
        elif change.action == "update":
            await builder.update_job(change.tag, config.products[change.product].jobs[change.tag], reason=reason)
        elif change.action == "delete":
            await builder.delete_job(change.tag, reason=reason)
