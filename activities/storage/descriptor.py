"""The ``storage`` event type's descriptor (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ductape_jobs.activities.config.drivers import Extra, Need
from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.event_type import Dispatch, EventTypeDescriptor, RequestShape, WorkerResources
from ductape_jobs.activities.storage.checks import check_storage
from ductape_jobs.workflows.contracts.dispatch import IStorageDispatchInput
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.contracts.storage import RUN_STORAGE, STORAGE_OPERATIONS


def _build(worker: WorkerResources) -> list[Callable[..., Any]]:
    from ductape_jobs.activities.storage.activity import StorageActivities

    storage = StorageActivities(worker.config, worker.secrets)
    worker.closers.append(storage.aclose)
    return [storage.run_storage]


def _defines(product: ProductDef, event: str, data: Mapping[str, Any]) -> list[str | None]:
    return [tag for tag, s in product.storage.items() if event in s.actions]


S3 = Extra("s3", ("s3fs",))


def _drivers(product: ProductDef, base: str, secrets: SecretStore | None) -> Iterator[Need]:
    for name, storage in product.storage.items():
        for env, store in storage.envs.items():
            if store.backend == "s3":
                yield Need(f"{base}.storage.{name}.envs.{env}", "S3", S3)


STORAGE = EventTypeDescriptor(
    event_type=JobEventType.STORAGE,
    activity=RUN_STORAGE,
    dispatch=Dispatch(namespace="storage", model=IStorageDispatchInput, component_field="storage"),
    defines=_defines,
    # IStorageRequest {buffer, fileName, mimeType?}.
    request_shape=RequestShape(
        keys=frozenset({"buffer", "fileName", "mimeType", "path"}),
        test=lambda i: isinstance(i.get("buffer"), str) and isinstance(i.get("fileName"), str),
    ),
    is_operation=lambda event: event in STORAGE_OPERATIONS,
    drivers=_drivers,
    build=_build,
    section="storage",
    check=check_storage,
    needs_component=True,
)
