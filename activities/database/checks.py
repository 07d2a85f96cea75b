"""Dispatch-time checks of database jobs against a product's config (the event type's descriptor names them); apart
from the section's model, which the product config imports."""

from __future__ import annotations

from ductape_jobs.activities.config.component_lookup import component_in_env
from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.database.config import operation_name
from ductape_jobs.workflows.contracts.database import DATABASE_OPERATIONS
from ductape_jobs.workflows.contracts.job import JobInputError


def check_database_job(product: ProductDef, env: str, component: str | None, event: str, field: str) -> str:
    """The database tag that runs ``event`` in ``env``: the one given, or the only one that can
    (``COMPONENT_CHECKS[JobEventType.DB_ACTION]``).

    Raises:
        JobInputError: naming ``field`` (unknown database, or none/several fit), ``env`` (the
            database has no settings for it) or ``event`` (neither an action nor an operation).
    """
    databases = product.databases
    ops = ", ".join(DATABASE_OPERATIONS)
    if component is None:
        if operation_name(event) is not None:
            candidates = list(databases)
            what = f"the product has {len(candidates)} databases"
        else:
            candidates = [tag for tag, db in databases.items() if event in db.actions]
            if not candidates:
                raise JobInputError.one(
                    "event", f"no database of the product defines an action {event!r} (operations: {ops})"
                )
            what = f"{len(candidates)} databases define {event!r}"
        if len(candidates) != 1:
            raise JobInputError.one(field, f"is required: {what} {sorted(candidates)}")
        component = candidates[0]
    db = component_in_env("database", databases, component, env, field=field)
    if event not in db.actions and operation_name(event) is None:
        raise JobInputError.one(
            "event",
            f"{event!r} is neither an action of database {component!r} {sorted(db.actions)} nor an operation ({ops})",
        )
    return component
