"""From a user's input (any seed shape) to a ``JobPlan``: validated, normalised, ready for Temporal.

Everything that can be wrong with an input is found here, before anything reaches Temporal, and
reported as one ``JobInputError`` naming the field and the reason.
"""

from __future__ import annotations

import hashlib
import json
import secrets as _random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import ScheduleOverlapPolicy
from temporalio.common import Priority, SearchAttributePair, TypedSearchAttributes

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore, undeclared_secrets
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.activities.registry import COMPONENT_CHECKS, DESCRIPTOR_OF, NEEDS_COMPONENT
from ductape_jobs.activities.session.crypto import TokenRejected
from ductape_jobs.activities.session.tokens import check_algorithm, check_unverified, verify_session
from ductape_jobs.management.job_events import wants_events
from ductape_jobs.planning.concurrency import job_concurrency
from ductape_jobs.planning.debounce import DebounceWindowPlan, job_debounce
from ductape_jobs.planning.dst_policy import COMPANION_SUFFIX, is_companion
from ductape_jobs.planning.event_inference import resolve_config_definitions, settle_event_type
from ductape_jobs.planning.inputs import NormalisedJob, normalise_dispatch, normalise_job
from ductape_jobs.planning.priority import job_priority, priority_note

# Re-exported: callers imported them from here before they moved to ductape_jobs.planning.recurrence.
from ductape_jobs.planning.recurrence import Recurrence as Recurrence
from ductape_jobs.planning.recurrence import recurrence_for as recurrence_for
from ductape_jobs.workflows import names
from ductape_jobs.workflows.arming import ARM_AHEAD, arm_lead_ms
from ductape_jobs.workflows.contracts.instants import to_epoch_ms
from ductape_jobs.workflows.contracts.job import JobEventType, JobInputError, JobWorkflowInput, RetrySettings
from ductape_jobs.workflows.contracts.management import JobMemo
from ductape_jobs.workflows.contracts.timing import IRetryConfig
from ductape_jobs.workflows.placeholders import has_placeholders, session_placeholders

DEFAULT_ACTIVITY_TIMEOUT_MS = 60_000
"""Start-to-close timeout of one attempt when the client has no product config to derive it from."""


@dataclass(frozen=True, kw_only=True)
class JobPlan:
    """A validated job, ready to become a workflow (one-off) or a schedule (recurring)."""

    job_id: str
    caller_chose_id: bool
    """The ID names this job for the caller (``job_id``, or a cache key): dispatching it again returns it."""
    cache_ttl: timedelta | None
    """With a cache tag: how long a success is reused (None: no cache tag; 0: dedupe while pending only)."""
    workflow_input: JobWorkflowInput
    first_run: datetime
    """When the job (first) runs; ``now`` for a job due at once."""
    due_now: bool
    recurrence: Recurrence | None
    summary: str
    memo: JobMemo
    search_attributes: TypedSearchAttributes
    priority: Priority
    """Task priority and fair share of its workflow and activities (``ductape_jobs.planning.priority``)."""
    debounce: DebounceWindowPlan | None = None
    """Its debounce window: dispatch asks it when the job runs and which earlier job it supersedes."""


def plan_job(
    job: NormalisedJob,
    *,
    now: datetime,
    task_queue: str,
    config: ProductConfig | None,
    secrets: SecretStore | None,
    arm_ahead: timedelta = ARM_AHEAD,
) -> JobPlan:
    """Check ``job`` against the clock and the product config, then build its plan (a one-off job
    arms up to ``arm_ahead`` before its start, ``ductape_jobs.workflows.arming``; zero turns arming off).

    Raises:
        JobInputError: an event type that cannot be inferred (``ductape_jobs.planning.event_inference``) or is not
            supported, a job definition the config does not hold, an event or app the config does not know, an input
            referencing a secret its product does not declare, a ``$Session{...}`` without a ``session``
            (naming the input field), a session token that is invalid, already
            expired or of an unsupported algorithm, a bad cron, an ``endDate`` not after the
            start, a ``fairness_key`` that cannot be read from the input.
    """
    job = resolve_config_definitions(settle_event_type(job, config), config)
    app = job.app
    timeout_ms = DEFAULT_ACTIVITY_TIMEOUT_MS
    descriptor = DESCRIPTOR_OF.get(job.event_type)
    if descriptor is None:
        supported = ", ".join(sorted(t.value for t in DESCRIPTOR_OF))
        raise JobInputError.one(
            "type", f"event type {job.event_type.value!r} is not supported yet (supported: {supported})"
        )
    if config is not None:
        app, timeout_ms = _check_against_config(job, config)
    elif job.event_type in NEEDS_COMPONENT and app is None:
        raise JobInputError.one(
            job.component_field,
            f"is required for this {job.event_type.value} job (or connect with a product config defining the event)",
        )
    if job.session is not None:
        _check_session(job, now=now, config=config, secrets=secrets)
    elif found := list(session_placeholders(job.input, "input")):
        # It would fail every run with SESSION_REQUIRED: refuse it now, before anything starts.
        raise JobInputError([(path, f"{text} needs the job's `session`, and it has none") for path, text in found])

    priority = job_priority(job, config, app)
    concurrency = job_concurrency(job, config, app)
    debounce = job_debounce(job, config, app)
    limited = (
        config.rate_limit(task_queue, job.product, job.env, app, job.event)
        if config is not None and app is not None and job.event_type is JobEventType.ACTION
        else None
    )
    channels = (
        config.channel_queues(task_queue, job.product, job.env, app)
        if config is not None and app is not None and job.event_type is JobEventType.NOTIFICATION
        else {}
    )
    waits = limited is not None or bool(channels) or concurrency is not None or debounce is not None
    start = job.start_at if job.start_at is not None and job.start_at > now else now
    recurrence = _recurrence(job, start=start)
    cache_ttl = _cache_ttl(job, config)
    job_id = job.job_id or (
        cache_job_id(job, app) if job.cache is not None else new_job_id(job.product, job.env, job.event, now)
    )
    if recurrence is not None and is_companion(job_id):  # ``jobs`` would read its schedule as no job at all
        raise JobInputError.one("job_id", f"must not end with {COMPANION_SUFFIX!r} (reserved for DST companions)")
    maximum_attempts = job.retries + 1
    notify = wants_events(config, job.product)
    retry = job.retry or IRetryConfig()
    workflow_input = JobWorkflowInput(
        job_id=job_id,
        product=job.product,
        env=job.env,
        event_type=job.event_type,
        event=job.event,
        app=app,
        event_activity=descriptor.activity,
        namespace=descriptor.dispatch.namespace if descriptor.dispatch else None,
        input=job.input,
        start_at=None if recurrence is not None or start <= now else start,
        session=job.session,
        retry=RetrySettings(
            maximum_attempts=maximum_attempts,
            initial_delay_ms=retry.initial_delay,
            max_delay_ms=retry.max_delay,
            backoff_multiplier=retry.backoff_multiplier,
            retryable_errors=retry.retryable_errors,
            non_retryable_errors=retry.non_retryable_errors,
        ),
        timeout_ms=timeout_ms,
        notify=notify,
        # Webhook products are not armed: their job.started event must not precede the start. Nor are
        # jobs that wait for a rate limit or a concurrency slot: they would take their turn ahead of time.
        arm_lead_ms=None if notify or waits or recurrence or start <= now else _arm_lead(job, job_id, arm_ahead),
        event_task_queue=limited[0] if limited else None,
        channel_task_queues=channels,
        concurrency=concurrency,
        debounce_key_class=debounce.key_class if debounce else None,
        catchup=recurrence.catchup_settings if recurrence else None,
    )
    # A recurring job's runs may arm too, when its timing allows (``ductape_jobs.scheduling.recurring_arming``).
    # Not with catch-up ``all``: its runs may overlap, and arming counts on a run due early being skipped.
    may_arm = (
        recurrence is not None
        and recurrence.overlap is not ScheduleOverlapPolicy.ALLOW_ALL
        and not notify
        and not waits
        and _arm_lead(job, job_id, arm_ahead) is not None
    )
    target = f"{app}/{job.event}" if app else job.event
    summary = f"{job.event_type.value} {target} · {job.product}/{job.env}"
    if recurrence is not None:
        summary += f" · {recurrence.description}"
    summary += priority_note(priority, job.product)
    if limited:
        summary += f" · rate limited {limited[1].describe()}"
    if channels:
        summary += f" · rate limited {', '.join(channels)}"
    if concurrency:
        summary += f" · at most {concurrency.limit} per {concurrency.key_class}"
    if debounce:
        summary += f" · debounced {debounce.period_ms} ms per {debounce.key_class}"
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(names.PRODUCT, job.product),
        SearchAttributePair(names.ENV, job.env),
        SearchAttributePair(names.EVENT_TYPE, job.event_type.value),
        SearchAttributePair(names.EVENT, job.event),
        SearchAttributePair(names.SCHEDULED_AT, start),
    ]
    if app:
        pairs.append(SearchAttributePair(names.APP, app))
    return JobPlan(
        job_id=job_id,
        caller_chose_id=job.job_id is not None or job.cache is not None,
        cache_ttl=cache_ttl,
        workflow_input=workflow_input,
        first_run=start,
        due_now=start <= now,
        recurrence=recurrence,
        summary=summary,
        memo=JobMemo(
            scheduled_at=to_epoch_ms(start),
            recurring=recurrence is not None,
            event_type=job.event_type,
            summary=summary,
            retries=job.retries,
            cron=job.repeat.cron if job.repeat else None,
            every=job.repeat.every if job.repeat else None,
            tz=job.repeat.tz if job.repeat else None,
            limit=job.repeat.limit if job.repeat else None,
            end_date=to_epoch_ms(job.repeat.end_date) if job.repeat and job.repeat.end_date else None,
            dst=job.repeat.dst.model_dump() if job.repeat and job.repeat.dst else None,
            arm_shift_s=0 if may_arm else None,
            longest_run_s=longest_run_s(workflow_input.retry, timeout_ms) if may_arm else None,
        ),
        search_attributes=TypedSearchAttributes(pairs),
        priority=priority,
        debounce=debounce,
    )


RUN_MARGIN_S = 15
"""Added to a run's attempts and backoff: its workflow tasks, the event's checkpoint and its
job events (measured in seconds under load, not minutes)."""


def longest_run_s(retry: RetrySettings, timeout_ms: int) -> int:
    """The longest one run of a job can take: every attempt reaching its timeout, with the backoff
    between attempts, plus ``RUN_MARGIN_S``. An armed recurring run must end before the next run's
    early start (``ductape_jobs.scheduling.recurring_arming``)."""
    backoff_ms, delay_ms = 0.0, float(retry.initial_delay_ms)
    for _ in range(retry.maximum_attempts - 1):
        backoff_ms += min(delay_ms, retry.max_delay_ms)
        delay_ms *= retry.backoff_multiplier
    total_ms = retry.maximum_attempts * timeout_ms + backoff_ms
    return int(-(-total_ms // 1000)) + RUN_MARGIN_S


def _check_against_config(job: NormalisedJob, config: ProductConfig) -> tuple[str | None, int]:
    product = config.products.get(job.product)
    if product is None:
        raise JobInputError.one("product_tag", f"product {job.product!r} is not in the product config")
    if job.env not in product.envs:
        raise JobInputError.one("env", f"env {job.env!r} is not one of {job.product!r}'s envs {product.envs}")
    # Any event type's input; the worker refuses these again, for clients without the config.
    if undeclared := undeclared_secrets(job.input, product=job.product, declared=product.secrets):
        raise JobInputError(undeclared)
    app = job.app
    if job.event_type is JobEventType.ACTION:
        if app is None:
            app = config.find_action_app(job.product, job.event)
            if app is None:
                raise JobInputError.one(
                    "event", f"no app of {job.product!r} defines an action {job.event!r}; set `app` or `type`"
                )
        app_def = product.apps.get(app)
        if app_def is None:
            raise JobInputError.one("app", f"app {app!r} is not in product {job.product!r}")
        action = app_def.actions.get(job.event)
        if action is None:
            raise JobInputError.one("event", f"app {app!r} has no action {job.event!r}")
        app_env = app_def.envs.get(job.env)
        if app_env is None:
            raise JobInputError.one("env", f"app {app!r} has no settings for env {job.env!r}")
        http_ms = action.timeout_ms or app_env.timeout_ms
        return app, max(DEFAULT_ACTIVITY_TIMEOUT_MS, http_ms + 10_000)
    check = COMPONENT_CHECKS.get(job.event_type)
    if check is not None:
        app = check(product, job.env, app, job.event, job.component_field)
    return app, DEFAULT_ACTIVITY_TIMEOUT_MS


def _cache_ttl(job: NormalisedJob, config: ProductConfig | None) -> timedelta | None:
    if job.cache is None:
        return None
    if config is None:
        return timedelta(0)  # without the config's TTL, identical jobs are still run once while pending
    cache = config.products[job.product].caches.get(job.cache)
    if cache is None:
        raise JobInputError.one("cache", f"cache tag {job.cache!r} is not defined in product {job.product!r}")
    return timedelta(milliseconds=cache.ttl_ms)


def cache_job_id(job: NormalisedJob, app: str | None) -> str:
    """The job ID identical jobs share: product, env, event and input (and the session, whose values
    the input's placeholders read, so two users' jobs are never confused)."""
    identity = {
        "type": job.event_type.value,
        "app": app,
        "input": job.input,
        "session": hashlib.sha256(f"{job.session.tag}:{job.session.token}".encode()).hexdigest()
        if job.session
        else None,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str).encode())
    return f"cache:{job.product}:{job.env}:{job.event}:{job.cache}:{digest.hexdigest()[:32]}"


def _check_session(
    job: NormalisedJob, *, now: datetime, config: ProductConfig | None, secrets: SecretStore | None
) -> None:
    assert job.session is not None
    try:
        try:
            if config is None or secrets is None:
                raise JobFailure("SECRET_MISSING", "no key on this client")
            verify_session(job.session, product=job.product, config=config, secrets=secrets)
        except JobFailure as err:
            if err.kind != "SECRET_MISSING":
                raise
            # This client does not hold the session key: check all that can be seen without it.
            try:
                check_algorithm(job.session.token)
            except TokenRejected as bad:
                raise JobInputError.one("session.token", f"session {job.session.tag!r}: {bad}") from None
            check_unverified(job.session, now)
    except JobFailure as err:
        raise JobInputError.one("session", err.message) from None


def _recurrence(job: NormalisedJob, *, start: datetime) -> Recurrence | None:
    return None if job.repeat is None else recurrence_for(job.repeat, field=job.repeat_field, start=start)


def _arm_lead(job: NormalisedJob, job_id: str, arm_ahead: timedelta) -> int | None:
    """A one-off job's arming lead (``ductape_jobs.workflows.arming``), or ``None`` where arming would change what
    the job does: placeholders and sessions resolve at the start (``$Now()`` is the start's instant)."""
    if job.session is not None or has_placeholders(job.input) or not DESCRIPTOR_OF[job.event_type].armable:
        return None
    return arm_lead_ms(job_id, arm_ahead)


class JobPlanner:
    """Validates and plans jobs against one product config, secrets and clock; needs no server."""

    def __init__(
        self,
        *,
        task_queue: str,
        config: ProductConfig | None = None,
        secrets: SecretStore | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        arm_ahead: timedelta = ARM_AHEAD,
    ) -> None:
        self.task_queue = task_queue
        self.config = config
        self.secrets = secrets
        self.clock = clock
        self.arm_ahead = arm_ahead

    def plan(self, namespace: str | None, data: object) -> JobPlan:
        """Plan ``ductape.processor.job.schedule`` input (``namespace=None``) or a namespace's dispatch.

        Raises:
            JobInputError: naming the field and the reason.
        """
        return self.plan_normalised(self.normalise(namespace, data))

    def normalise(self, namespace: str | None, data: object) -> NormalisedJob:
        """The input's shape checked, its event type settled (``ductape_jobs.planning.event_inference``).

        Raises:
            JobInputError: naming the field and the reason.
        """
        normalised = normalise_job(data) if namespace is None else normalise_dispatch(namespace, data)
        return settle_event_type(normalised, self.config)

    def plan_normalised(self, normalised: NormalisedJob) -> JobPlan:
        """Plan an already normalised job.

        Raises:
            JobInputError: naming the field and the reason.
        """
        return plan_job(
            normalised,
            now=self.clock(),
            task_queue=self.task_queue,
            config=self.config,
            secrets=self.secrets,
            arm_ahead=self.arm_ahead,
        )


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_job_id(product: str, env: str, event: str, now: datetime) -> str:
    """``job:<product>:<env>:<event>:<ULID>``: readable in the Web UI, sortable by creation time."""
    value = (to_epoch_ms(now) << 80) | int.from_bytes(_random.token_bytes(10), "big")
    ulid = "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
    return f"job:{product}:{env}:{event}:{ulid}"
