"""Seed 004's job definitions: ``ductape.product(tag).create_job / update_job / fetch_job / fetch_jobs``.

A definition is a Temporal Schedule with the ID ``jobdef:<product>:<tag>`` that runs its event every
``intervals`` ms, ``executions`` times (0 = unlimited), from ``start_at``; the definition itself is kept
in the schedule action's memo. A job of type ``job`` runs a definition's event once, by tag; a
definition of type ``job`` runs another definition's event (``ductape_jobs.planning.event_inference``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ValidationError
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleUpdate, ScheduleUpdateInput

from ductape_jobs.management.audit import checked_reason
from ductape_jobs.management.jobs import Jobs
from ductape_jobs.planning.event_inference import config_definition, resolve_definitions
from ductape_jobs.planning.plan import JobPlan, JobPlanner
from ductape_jobs.scheduling import with_arm_shift
from ductape_jobs.scheduling.dispatch import schedule_timing, start_job, timed_memo
from ductape_jobs.workflows.contracts.audit import AuditAction
from ductape_jobs.workflows.contracts.dispatch import IDispatchResult, IProductJob
from ductape_jobs.workflows.contracts.job import JobInputError
from ductape_jobs.workflows.contracts.management import JobMemo

PREFIX = "jobdef"


def definition_id(product: str, tag: str) -> str:
    return f"{PREFIX}:{product}:{tag}"


def validated_definition(data: Mapping[str, Any] | IProductJob, field_prefix: str = "") -> IProductJob:
    if isinstance(data, IProductJob):
        return data
    try:
        return IProductJob.model_validate(data)
    except ValidationError as err:
        raise JobInputError.from_validation(err, prefix=field_prefix) from None


def stored_definition(definition: Mapping[str, Any]) -> IProductJob:
    """A definition read back from its schedule's memo. A field that a newer client wrote there is
    ignored (a rolling deploy), where one a user writes is refused (``validated_definition``)."""
    return IProductJob.model_validate(definition, extra="ignore")


class ProductBuilder:
    """Job definitions of one product (``productBuilder`` in seed 004); camelCase names work too."""

    def __init__(self, product: str, *, env: str | None, client: Client, planner: JobPlanner, jobs: Jobs) -> None:
        self.product = product
        self._env = env
        self._client = client
        self._planner = planner
        self._jobs = jobs

    def _env_of(self, job: IProductJob) -> str:
        if job.env or self._env:
            return str(job.env or self._env)
        config = self._planner.config
        found = config.products.get(self.product) if config is not None else None
        if found is None:
            raise JobInputError.one("env", "is required (or connect with a product config that lists the envs)")
        return found.envs[0]

    async def _plan(self, job: IProductJob, source: Literal["api", "config"]) -> JobPlan:
        data = {
            "product_tag": self.product, "env": self._env_of(job), "event": job.event_tag, "type": job.event_type,
            "input": job.input, "retries": job.retries, "job_id": definition_id(self.product, job.tag),
            "start_at": job.start_at, "repeat": {"every": job.intervals, "limit": job.executions or None},
        }  # fmt: skip
        if job.app:
            data["app"] = job.app
        # Only when set: a definition written by an older client has no such keys.
        data |= {k: v for k in ("priority", "fairness_key", "concurrency") if (v := getattr(job, k)) is not None}
        try:
            normalised = self._planner.normalise(None, data)
            # A definition of type `job` runs another definition's event (read now, at create/update).
            normalised = await resolve_definitions(normalised, self.find_definition, field="event_tag")
            plan = self._planner.plan_normalised(normalised)
        except JobInputError as err:
            raise JobInputError([(_as_written(f), r) for f, r in err.problems]) from None
        memo = plan.memo.model_copy(
            update={
                "definition": job.model_dump(mode="json", exclude_none=True),
                "source": source,
                "summary": f"job {job.tag} ({job.name}) · {plan.memo.summary}",
            }
        )
        return dataclasses.replace(plan, memo=memo, summary=memo.summary)

    async def find_definition(self, tag: str) -> IProductJob | None:
        """The definition ``tag``: made through the API or applied (on the server), else in the config.

        Raises:
            JobInputError: the config's definition is invalid.
        """
        try:
            return await self.fetch_job(tag)
        except LookupError:
            return config_definition(self._planner.config, self.product, tag)

    async def create_job(
        self,
        data: Mapping[str, Any] | IProductJob,
        *,
        source: Literal["api", "config"] = "api",
        reason: str | None = None,
    ) -> IProductJob:
        """Create a definition; it starts running at ``start_at`` (or now). ``reason`` goes to the
        audit trail of ``jobdef:<product>:<tag>``, as for ``update_job`` and ``delete_job``.

        Raises:
            JobInputError: invalid definition or ``reason``, or the tag already exists (use ``update_job``).
        """
        return (await self.create_job_with_result(data, source=source, reason=reason))[0]

    async def create_job_with_result(
        self,
        data: Mapping[str, Any] | IProductJob,
        *,
        source: Literal["api", "config"] = "api",
        reason: str | None = None,
    ) -> tuple[IProductJob, IDispatchResult]:
        """``create_job``, also returning the DispatchResult of the definition's schedule (its first
        and next run), as ``ductape-jobs schedule`` prints it.

        Raises:
            JobInputError: as ``create_job``.
        """
        reason = checked_reason(reason)
        job = validated_definition(data)
        if await self._jobs.describe_schedule(definition_id(self.product, job.tag)) is not None:
            raise JobInputError.one("tag", f"job {job.tag!r} already exists in {self.product!r}; use update_job")
        result = await start_job(
            self._client, await self._plan(job, source), task_queue=self._planner.task_queue,
            scheduling=self._jobs.scheduling,
        )  # fmt: skip
        await self._audit(job.tag, "definition.create", reason, source=source)
        return job, result

    async def fetch_job(self, tag: str) -> IProductJob:
        """Raises: JobNotFoundError."""
        return stored_definition((await self._memo(tag)).definition or {})

    async def fetch_jobs(self) -> list[IProductJob]:
        return [job for job, _ in await self.definitions()]

    async def definitions(self) -> list[tuple[IProductJob, str | None]]:
        """Every definition of the product with its source (``api`` or ``config``), by tag."""
        found = []
        query = f'DuctapeProduct = "{self.product}"'
        async for listed in await self._client.list_schedules(query):
            if listed.id.startswith(definition_id(self.product, "")):
                memo = JobMemo.model_validate(await listed.memo())
                if memo.definition is not None:
                    found.append((stored_definition(memo.definition), memo.source))
        return sorted(found, key=lambda item: item[0].tag)

    async def update_job(self, tag: str, data: Mapping[str, Any], *, reason: str | None = None) -> IProductJob:
        """Change a definition (``Partial<IProductJob>``): runs already made count toward the new
        ``executions``; the interval grid restarts from ``start_at`` (or now).

        Raises:
            JobNotFoundError: no such definition. JobInputError: the merged definition or ``reason`` is invalid.
        """
        reason = checked_reason(reason)
        memo = await self._memo(tag)
        stored = (
            stored_definition(memo.definition).model_dump(mode="json", exclude_none=True) if memo.definition else {}
        )
        merged = validated_definition({**stored, **dict(data), "tag": tag})
        plan = await self._plan(merged, memo.source or "api")
        handle = self._client.get_schedule_handle(definition_id(self.product, tag))
        described = await handle.describe()
        assert plan.recurrence is not None
        now = self._planner.clock()
        first = plan.first_run if plan.first_run > now else now
        scheduling = self._jobs.scheduling
        timing = schedule_timing(
            scheduling.recurrence(plan.recurrence), first_run=first, now=now, note=plan.summary, trigger_allowed=False,
            arm_lead_s=scheduling.arm_lead_s(plan.job_id, plan.memo), longest_run_s=plan.memo.longest_run_s,
        )  # fmt: skip
        memo = timed_memo(plan.memo, timing)
        remaining = None if not merged.executions else max(merged.executions - described.info.num_actions, 0)

        def apply(update: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = update.description.schedule
            schedule.spec = timing.spec
            action = schedule.action
            if isinstance(action, ScheduleActionStartWorkflow):
                action.args = [plan.workflow_input]
                action.memo = memo.model_dump(mode="json")
                action.static_summary = plan.summary
                action.priority = plan.priority
            schedule.state.limited_actions = remaining is not None
            schedule.state.remaining_actions = remaining or 0
            if remaining == 0:
                schedule.state.limited_actions, schedule.spec.end_at = False, now
            # The new shift is schedule state: a search attribute (ductape_jobs.scheduling.schedule_state).
            attributes = with_arm_shift(update.description.typed_search_attributes, memo.arm_shift_s)
            return ScheduleUpdate(schedule=schedule, search_attributes=attributes)

        await handle.update(apply)
        await self._audit(tag, "definition.update", reason, fields=sorted(dict(data)))
        return merged

    async def delete_job(self, tag: str, *, reason: str | None = None) -> None:
        """The audit trail records it as a ``delete`` of ``jobdef:<product>:<tag>``.

        Raises: JobNotFoundError. JobInputError: ``reason`` is not a short text."""
        await self._jobs.delete(definition_id(self.product, tag), reason=reason)

    async def _audit(self, tag: str, action: AuditAction, reason: str | None, **details: object) -> None:
        audit = self._jobs.audit
        await audit.record(audit.entry(definition_id(self.product, tag), action, reason=reason, details=details))

    async def _memo(self, tag: str) -> JobMemo:
        described = await self._jobs.require_schedule(definition_id(self.product, tag))
        memo = await self._jobs.schedule_memo(described)
        if memo.definition is None:
            raise JobInputError.one("tag", f"{tag!r} is not a job definition")
        return memo

    createJob = create_job
    updateJob = update_job
    fetchJob = fetch_job
    fetchJobs = fetch_jobs


_FIELDS_AS_WRITTEN = {"repeat.every": "intervals", "repeat.limit": "executions", "event": "event_tag",
                      "type": "event_type"}  # fmt: skip
"""A definition's fields as the planner names them (it plans a ``job.schedule`` input), and as the
user wrote them."""


def _as_written(field: str) -> str:
    return _FIELDS_AS_WRITTEN.get(field, field)
