"""Dispatch-time checks of storage jobs against a product's config (the event type's descriptor names them); apart
from the section's model, which the product config imports."""

from __future__ import annotations

from ductape_jobs.activities.config.component_lookup import component_in_env, sole_owner
from ductape_jobs.activities.config.product_config import ProductConfig, ProductDef
from ductape_jobs.activities.storage.config import StorageConfigError, StorageTarget, resolve_event
from ductape_jobs.workflows.contracts.job import JobInputError
from ductape_jobs.workflows.contracts.storage import STORAGE_OPERATIONS


def storage_target(config: ProductConfig, product: str, env: str, tag: str, event: str) -> StorageTarget:
    """Find what a storage job runs.

    Raises:
        StorageConfigError: naming the first missing piece (product, storage tag, its env, the event).
    """
    prod = config.products.get(product)
    if prod is None:
        raise StorageConfigError(f"product {product!r} is not in the product config")
    storage = prod.storage.get(tag)
    if storage is None:
        raise StorageConfigError(f"storage {tag!r} is not in product {product!r} (known: {sorted(prod.storage)})")
    env_def = storage.envs.get(env)
    if env_def is None:
        raise StorageConfigError(f"storage {tag!r} has no settings for env {env!r}")
    found = resolve_event(storage, event)
    if found is None:
        raise StorageConfigError(f"storage {tag!r} has no operation or action {event!r}")
    return StorageTarget(env_def, found[0], found[1], storage.max_download_bytes)


def check_storage(product: ProductDef, env: str, component: str | None, event: str, field: str) -> str:
    """Dispatch-time check of a storage job; returns the storage tag.

    Without a tag, the one storage defining ``event`` as an action is taken.

    Raises:
        JobInputError: naming ``field`` (unknown or missing tag), ``env`` or ``event``.
    """
    if component is None:
        owners = [tag for tag, s in product.storage.items() if event in s.actions]
        component = sole_owner("storage", owners, field=field, event=event)
    storage = component_in_env("storage", product.storage, component, env, field=field)
    if resolve_event(storage, event) is None:
        known = ", ".join([*STORAGE_OPERATIONS, *sorted(storage.actions)])
        raise JobInputError.one("event", f"storage {component!r} has no operation or action {event!r} (known: {known})")
    return component
