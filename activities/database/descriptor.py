"""The ``database_action`` event type's descriptor (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ductape_jobs.activities.config.drivers import Need, database_need, resolved_url
from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.database.checks import check_database_job
from ductape_jobs.activities.event_type import Dispatch, EventTypeDescriptor, RequestShape, WorkerResources
from ductape_jobs.workflows.contracts.database import DATABASE_OPERATIONS, RUN_DATABASE
from ductape_jobs.workflows.contracts.dispatch import IDatabaseDispatchInput
from ductape_jobs.workflows.contracts.job import JobEventType


def _build(worker: WorkerResources) -> list[Callable[..., Any]]:
    from ductape_jobs.activities.database.activity import DatabaseActivities

    databases = DatabaseActivities(worker.config, worker.secrets)
    worker.closers.append(databases.close)
    return [databases.run_database]


def _defines(product: ProductDef, event: str, data: Mapping[str, Any]) -> list[str | None]:
    return [tag for tag, db in product.databases.items() if event in db.actions]


def _drivers(product: ProductDef, base: str, secrets: SecretStore | None) -> Iterator[Need]:
    for name, database in product.databases.items():
        for env, db_env in database.envs.items():
            url = resolved_url(db_env.url, secrets)
            need = None if url is None else database_need(url, f"{base}.databases.{name}.envs.{env}")
            if need is not None:
                yield need


DATABASE = EventTypeDescriptor(
    event_type=JobEventType.DB_ACTION,
    activity=RUN_DATABASE,
    dispatch=Dispatch(namespace="database", model=IDatabaseDispatchInput, component_field="database"),
    defines=_defines,
    # IDbActionRequest {data, filter} (and an operation's {table, data, where}).
    request_shape=RequestShape(
        keys=frozenset({"data", "filter", "where", "table", "limit", "offset", "order_by", "columns", "conflict"}),
        test=lambda i: isinstance(i.get("data"), dict | list),
    ),
    is_operation=lambda event: event.lower() in DATABASE_OPERATIONS,
    drivers=_drivers,
    build=_build,
    section="databases",
    check=check_database_job,
    needs_component=True,
)
