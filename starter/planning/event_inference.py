"""Which event a job runs when its input does not say: the event type inferred, and a job of type
``job`` replaced by its definition's event.

The rule (the README's "Which event type?" states it for users):

* ``type`` given: that type.
* With a product config, the ``event`` tag is looked up in every section of the product: app
  actions, notification messages, database actions, storage actions, broker events (``publish``; an
  event with a ``target`` is ``subscribe`` as well), graph actions, features, functions, fallbacks,
  quotas and job definitions. The input's ``slug`` names the notification; ``app``, when given, keeps
  only that component's matches (and lets an operation name, ``insert`` or ``upload``, name the
  component's operation). One match gives its type and component; several are an error listing them
  and asking for ``type``; none is an error naming ``event`` (or ``app``).
* Without a config, the input's shape decides when it is one of the seeds' request shapes and no
  other: a notification request, a database request, a storage request or a function payload.
  Anything else is an app action.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ductape_jobs.activities.config.product_config import ProductConfig, ProductDef
from ductape_jobs.activities.registry import EVENT_TYPES
from ductape_jobs.planning.inputs import NormalisedJob
from ductape_jobs.workflows.contracts.dispatch import IProductJob
from ductape_jobs.workflows.contracts.job import JobEventType, JobInputError

MAX_DEFINITION_DEPTH = 5
"""A job definition may run another definition, this many levels deep at most."""


@dataclass(frozen=True)
class Match:
    """One place of the product config that defines an event tag."""

    event_type: JobEventType
    component: str | None
    """The app, notification, database... that defines it (None: the tag alone names it)."""

    def label(self, event: str) -> str:
        return (
            f"{self.event_type.value} {self.component}/{event}"
            if self.component
            else f"{self.event_type.value} {event}"
        )


def shape_type(data: Mapping[str, Any]) -> JobEventType | None:
    """The event type whose seed request shape ``data`` has, if exactly one; else None (an action)."""
    found = [
        d.event_type
        for d in EVENT_TYPES
        if (shape := d.request_shape) is not None and data and set(data) <= shape.keys and shape.test(data)
    ]
    return found[0] if len(found) == 1 else None


def config_matches(product: ProductDef, event: str, data: Mapping[str, Any]) -> list[Match]:
    """Every section of ``product`` that defines ``event`` (see the module's rule)."""
    # Each event type's descriptor says which of its section's components define the tag.
    found = [
        Match(d.event_type, component)
        for d in EVENT_TYPES
        if d.defines is not None
        for component in d.defines(product, event, data)
    ]
    found += [Match(JobEventType.JOB, None)] if event in product.jobs else []
    return found


def _operation_of(product: ProductDef, app: str, event: str) -> Match | None:
    """``app`` is a database, storage or graph and ``event`` one of its built-in operations."""
    for d in EVENT_TYPES:
        if d.is_operation is not None and d.section and app in getattr(product, d.section) and d.is_operation(event):
            return Match(d.event_type, app)
    return None


def infer_from_config(job: NormalisedJob, product: ProductDef) -> Match:
    """The one place of ``product`` that defines the job's event.

    Raises:
        JobInputError: naming ``type`` (several places define it), ``app`` (only other components
            do) or ``event`` (nothing does).
    """
    matches = config_matches(product, job.event, job.input)
    if job.app is not None:
        mine = [m for m in matches if m.component == job.app]
        operation = _operation_of(product, job.app, job.event) if not mine else None
        if operation is not None:
            return operation
        if not mine and matches:
            where = ", ".join(m.label(job.event) for m in matches)
            raise JobInputError.one("app", f"{job.app!r} does not define event {job.event!r} (defined as: {where})")
        matches = mine
    if len(matches) > 1:
        where = ", ".join(m.label(job.event) for m in matches)
        raise JobInputError.one(
            "type", f"event {job.event!r} is defined {len(matches)} times in {job.product!r} ({where}); set `type`"
        )
    if not matches:
        raise JobInputError.one(
            "event",
            f"no section of product {job.product!r} defines {job.event!r} (app actions, notifications, databases, "
            "storage, brokers, graphs, features, functions, fallbacks, quotas, job definitions); set `type` "
            "(and `app`) for an operation",
        )
    return matches[0]


def settle_event_type(job: NormalisedJob, config: ProductConfig | None) -> NormalisedJob:
    """``job`` with its event type decided (see the module's rule) and, for a notification, the
    notification named by the input's ``slug`` when ``app`` is absent. A settled job is returned as is.

    Raises:
        JobInputError: see ``infer_from_config``.
    """
    if not job.type_given:
        product = config.products.get(job.product) if config is not None else None
        if product is not None:
            match = infer_from_config(job, product)
            job = dataclasses.replace(job, event_type=match.event_type, app=match.component or job.app)
        elif config is None:
            job = dataclasses.replace(job, event_type=shape_type(job.input) or JobEventType.ACTION)
        # A product missing from the config is reported by the planner's own check, naming `product_tag`.
        job = dataclasses.replace(job, type_given=True)
    slug = job.input.get("slug")
    if job.event_type is JobEventType.NOTIFICATION and job.app is None and isinstance(slug, str) and slug:
        job = dataclasses.replace(job, app=slug)
    return job


def config_definition(config: ProductConfig | None, product: str, tag: str) -> IProductJob | None:
    """The job definition ``tag`` of ``product`` in the config, or None.

    Raises:
        JobInputError: the config's definition is invalid (naming ``event``).
    """
    found = config.products[product].jobs.get(tag) if config is not None and product in config.products else None
    if found is None:
        return None
    try:
        return IProductJob.model_validate({**found, "tag": tag})
    except ValidationError as err:
        raise JobInputError.one("event", f"job definition {tag!r} in the config is invalid: {err}") from None


def run_definition(job: NormalisedJob, definition: IProductJob) -> NormalisedJob:
    """A job of type ``job``, made to run its definition's event: the definition's type, event, app
    and input (the job's own input, priority and fairness key when it gives them); the job's other
    options are kept."""
    return dataclasses.replace(
        job,
        event_type=definition.event_type,
        event=definition.event_tag,
        app=definition.app,
        input=job.input or definition.input,
        type_given=True,
        priority=definition.priority if job.priority is None else job.priority,
        fairness_key=job.fairness_key or definition.fairness_key,
        concurrency=job.concurrency or definition.concurrency,
    )


async def resolve_definitions(
    job: NormalisedJob, fetch: Callable[[str], Awaitable[IProductJob | None]], *, field: str = "event"
) -> NormalisedJob:
    """Follow a job of type ``job`` to the event it finally runs, reading definitions with ``fetch``.

    Raises:
        JobInputError: naming ``field``: no such definition, a cycle, or definitions nested too deep.
    """
    seen: list[str] = []
    while job.event_type is JobEventType.JOB:
        _follow(job.event, seen, field)
        definition = await fetch(job.event)
        if definition is None:
            raise JobInputError.one(field, f"no job definition {job.event!r} in product {job.product!r}")
        job = run_definition(job, definition)
    return job


def resolve_config_definitions(job: NormalisedJob, config: ProductConfig | None) -> NormalisedJob:
    """``resolve_definitions`` over the config's definitions only (a planner without a server).

    Raises:
        JobInputError: naming ``event`` (see ``resolve_definitions``).
    """
    seen: list[str] = []
    while job.event_type is JobEventType.JOB:
        _follow(job.event, seen, "event")
        definition = config_definition(config, job.product, job.event)
        if definition is None:
            raise JobInputError.one(
                "event",
                f"no job definition {job.event!r} in the product config of {job.product!r} "
                "(definitions made through the API are read from the server by the client)",
            )
        job = run_definition(job, definition)
    return job


def _follow(tag: str, seen: list[str], field: str) -> None:
    if tag in seen or len(seen) >= MAX_DEFINITION_DEPTH:
        chain = " -> ".join([*seen, tag])
        raise JobInputError.one(field, f"job definitions run each other in a loop or too deep: {chain}")
    seen.append(tag)
