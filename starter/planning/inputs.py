"""From a user's input, in any seed's shape, to one ``NormalisedJob``: the fields every shape comes down to.

Shape errors are found here (pydantic, strict); checks against the clock and the product config
are ``ductape_jobs.planning.plan``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from ductape_jobs.activities.registry import DISPATCH_OF
from ductape_jobs.workflows.contracts.dispatch import IJobProcessorInput
from ductape_jobs.workflows.contracts.flow_control import ConcurrencyDef, DebounceDef
from ductape_jobs.workflows.contracts.job import ISession, JobEventType, JobInputError
from ductape_jobs.workflows.contracts.timing import IDispatchSchedule, IJobRepeatOptions, IRetryConfig


@dataclass(frozen=True, kw_only=True)
class NormalisedJob:
    """The fields every seed shape comes down to."""

    product: str
    env: str
    event_type: JobEventType
    event: str
    app: str | None
    input: dict[str, Any]
    retries: int
    retry: IRetryConfig | None
    session: ISession | None
    job_id: str | None
    start_at: datetime | None
    repeat: IJobRepeatOptions | None
    repeat_field: str
    cache: str | None = None
    component_field: str = "app"
    """The input field naming the component (``app``, ``database``, ``broker``...), for error messages."""
    priority: int | None = None
    fairness_key: str | None = None
    """As the caller wrote it: text, or ``$Input{path}`` (``ductape_jobs.planning.priority`` reads it)."""
    fairness_weight: float | None = None
    concurrency: ConcurrencyDef | None = None
    debounce: DebounceDef | None = None
    type_given: bool = True
    """False while ``event_type`` is a placeholder: the input gave no ``type`` and
    ``ductape_jobs.planning.event_inference`` decides it."""


DISPATCH_NAMESPACES = tuple(DISPATCH_OF)
"""Every ``ductape.<namespace>.dispatch`` (``ductape_jobs.activities.registry.DISPATCH_OF``)."""


def _validate(model: type[BaseModel], data: object) -> Any:
    if isinstance(data, model):
        return data
    if isinstance(data, BaseModel):
        data = data.model_dump(by_alias=False, exclude_unset=True)
    if not isinstance(data, Mapping):
        raise JobInputError.one("", f"job input must be an object, not {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise JobInputError.from_validation(err) from None


def normalise_job(data: object) -> NormalisedJob:
    """``ductape.processor.job.schedule`` input (seeds 000-002).

    Raises:
        JobInputError: the input does not match ``IJobProcessorInput``.
    """
    job: IJobProcessorInput = _validate(IJobProcessorInput, data)
    return NormalisedJob(
        product=job.product_tag,
        env=job.env,
        # Without `type`, ductape_jobs.planning.event_inference decides it (from the config, else the input's shape).
        event_type=job.type or JobEventType.ACTION,
        type_given=job.type is not None,
        event=job.event,
        app=job.app,
        input=job.input,
        retries=job.retries,
        retry=job.retry,
        session=job.session,
        job_id=job.job_id,
        start_at=job.start_at,
        repeat=job.repeat,
        repeat_field="repeat",
        cache=job.cache,
        priority=job.priority,
        fairness_key=job.fairness_key,
        fairness_weight=job.fairness_weight,
        concurrency=job.concurrency,
        debounce=job.debounce,
    )


def normalise_dispatch(namespace: str, data: object) -> NormalisedJob:
    """``ductape.<namespace>.dispatch`` input (seed 003).

    Raises:
        JobInputError: unknown namespace, or the input does not match the namespace's model.
    """
    descriptor = DISPATCH_OF.get(namespace)
    if descriptor is None or descriptor.dispatch is None:
        raise JobInputError.one("namespace", f"unknown dispatch namespace {namespace!r}")
    model, event_type = descriptor.dispatch.model, descriptor.event_type
    component_field, event_field = descriptor.dispatch.component_field, descriptor.dispatch.event_field
    parsed = _validate(model, data)
    operation = getattr(parsed, "operation", None)
    event = str(getattr(parsed, event_field) or operation)
    schedule: IDispatchSchedule | None = parsed.schedule
    repeat = None
    if schedule is not None and schedule.repeat() is not None:
        try:
            repeat = IJobRepeatOptions.model_validate(schedule.repeat())
        except ValidationError as err:
            raise JobInputError.from_validation(err, prefix="schedule") from None
    start_at = schedule.start_at if schedule is not None else None
    return NormalisedJob(
        product=parsed.product_tag,
        env=parsed.env,
        event_type=event_type,
        event=event,
        app=getattr(parsed, component_field) if component_field else None,
        input=parsed.input,
        retries=parsed.retries,
        retry=parsed.retry,
        session=parsed.session,
        job_id=parsed.job_id,
        start_at=start_at,
        repeat=repeat,
        repeat_field="schedule",
        cache=parsed.cache,
        component_field=component_field or event_field,
        priority=parsed.priority,
        fairness_key=parsed.fairness_key,
        fairness_weight=parsed.fairness_weight,
        concurrency=parsed.concurrency,
        debounce=parsed.debounce,
    )
