"""The ``Ductape`` client: ``processor.job.schedule``, ``<namespace>.dispatch`` and ``jobs``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

from activities.product_config import ConfigError, ProductConfig, load_product_config
from activities.secrets import SecretStore
from activities.session_store import SessionStore
from starter.converter import DATA_CONVERTER
from starter.dispatch import start_job
from starter.encryption import Keyring, KeyringError, encrypted_converter
from starter.event_inference import resolve_definitions
from starter.job_events import JobEventEmitter
from starter.job_plan import JobPlanner
from starter.jobs import Jobs
from starter.product_jobs import ProductBuilder
from starter.scheduling import SchedulingOptions
from starter.sessions import Sessions
from starter.settings import Settings
from starter.telemetry import Telemetry
from workflows.arming import ARM_AHEAD
from workflows.contracts import JobEventType
from workflows.dispatch_contracts import IDispatchResult

DEFAULT_KEY_FILE = Path(".data") / "encryption.keys"
"""Where ``ductape-jobs dev`` keeps its generated keys (relative to the working directory)."""


def resolve_keyring(settings: Settings, *, default_file: Path = DEFAULT_KEY_FILE) -> Keyring | None:
    """The payload keys: ``encryption_keys``, else ``encryption_key_file``, else ``default_file`` if it
    exists; ``None`` only when ``plaintext`` is set explicitly.

    Raises:
        KeyringError: no keys anywhere (and plaintext not chosen), or malformed keys.
    """
    if settings.encryption_keys:
        return Keyring.parse(settings.encryption_keys)
    file = settings.encryption_key_file or (default_file if default_file.exists() else None)
    if file is not None:
        try:
            return Keyring.parse(file.read_text(encoding="utf-8"))
        except OSError as err:
            raise KeyringError(f"cannot read encryption keys from {file}: {err.strerror}") from None
    if settings.plaintext:
        return None
    raise KeyringError(
        "no payload encryption keys: set DUCTAPE_ENCRYPTION_KEYS or DUCTAPE_ENCRYPTION_KEY_FILE "
        f"(`ductape-jobs dev` writes {default_file}), or DUCTAPE_PLAINTEXT=1 to store job data in clear"
    )


def open_session_store(settings: Settings, data_dir: Path = Path(".data")) -> SessionStore:
    """The session store of ``settings`` (its tables are created on first use)."""
    if settings.session_store is None:
        data_dir.mkdir(parents=True, exist_ok=True)
    return SessionStore.from_url(settings.session_store_url(data_dir))


async def connect_client(settings: Settings, keyring: Keyring | None, telemetry: Telemetry | None = None) -> Client:
    """A Temporal client with the project's data converter, encrypting with ``keyring`` if given (and
    then refusing unencrypted payloads unless ``settings.plaintext``), and with the process's metrics
    runtime and tracing interceptors if given.

    Raises:
        RuntimeError: the server cannot be reached (from ``Client.connect``).
    """
    telemetry = telemetry or Telemetry()
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        api_key=settings.api_key,
        tls=settings.tls or settings.api_key is not None,
        data_converter=(
            DATA_CONVERTER if keyring is None else encrypted_converter(keyring, accept_plaintext=settings.plaintext)
        ),
        runtime=telemetry.runtime,
        interceptors=telemetry.interceptors,
    )


class _Submitter:
    """Plans a job, then starts it on this client; shared by every namespace object."""

    def __init__(self, client: Client, planner: JobPlanner, events: JobEventEmitter, jobs: Jobs) -> None:
        self.client = client
        self.planner = planner
        self.events = events
        self.jobs = jobs

    async def submit(self, namespace: str | None, data: object) -> IDispatchResult:
        job = self.planner.normalise(namespace, data)
        if job.event_type is JobEventType.JOB:  # given, or inferred from the config's job definitions
            builder = ProductBuilder(job.product, env=None, client=self.client, planner=self.planner, jobs=self.jobs)
            job = await resolve_definitions(job, builder.find_definition)
        plan = self.planner.plan_normalised(job)
        result = await start_job(self.client, plan, task_queue=self.planner.task_queue, scheduling=self.jobs.scheduling)
        if plan.workflow_input.notify and not result.cached:
            started = plan.workflow_input
            await self.events.emit(
                "job.scheduled", job_id=result.job_id, status=result.status, product=started.product,
                env=started.env, event_type=started.event_type.value, scheduled_at=result.scheduled_at,
            )  # fmt: skip
        return result


class DispatchNamespace:
    """``ductape.<namespace>``: ``dispatch(input)`` schedules one operation of that namespace as a job."""

    def __init__(self, submitter: _Submitter, namespace: str) -> None:
        self._submitter = submitter
        self._namespace = namespace

    async def dispatch(self, data: Mapping[str, Any] | object) -> IDispatchResult:
        """Schedule the operation; returns at once with the job's ID and times.

        Raises:
            JobInputError: invalid input (names the field and the reason); nothing was started.
        """
        return await self._submitter.submit(self._namespace, data)


class JobProcessor:
    """``ductape.processor.job``."""

    def __init__(self, submitter: _Submitter) -> None:
        self._submitter = submitter

    async def schedule(self, data: Mapping[str, Any] | object) -> IDispatchResult:
        """Schedule a job (seed 001's ``IJobProcessorInput``); returns at once.

        ``await ductape.jobs.result(job_id)`` waits for the result the older seeds returned.

        Raises:
            JobInputError: invalid input (names the field and the reason); nothing was started.
        """
        return await self._submitter.submit(None, data)


class Processor:
    """``ductape.processor``."""

    def __init__(self, submitter: _Submitter) -> None:
        self.job = JobProcessor(submitter)


class Ductape:
    """Entry point of the library: schedule jobs and manage them on a Temporal server."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str | None = None,
        config: ProductConfig | None = None,
        secrets: SecretStore | None = None,
        session_store: SessionStore | None = None,
        clock: Callable[[], datetime] | None = None,
        arm_ahead: timedelta = ARM_AHEAD,
        scheduling: SchedulingOptions | None = None,
    ) -> None:
        """Wrap an already connected client (its data converter must be ``starter.DATA_CONVERTER``).

        ``config`` lets dispatch check events, apps and envs before anything starts; ``secrets``
        lets it verify session signatures too (without them it checks what it can). ``arm_ahead``:
        how early at most a one-off job hands its event to a worker, which starts it at the exact
        instant (``workflows.arming``); ``timedelta(0)`` wakes jobs at their instant instead (for the
        time-skipping test server, whose virtual clock an activity's real wait cannot skip).
        ``scheduling``: arming ahead and the DST companion of recurring jobs (``Settings.arm_recurring``,
        ``Settings.dst_companion``; default: both on).
        """
        self.planner = JobPlanner(
            task_queue=task_queue or Settings().task_queue,
            config=config,
            secrets=secrets,
            clock=clock or (lambda: datetime.now(UTC)),
            arm_ahead=arm_ahead,
        )
        events = JobEventEmitter(client, task_queue=self.planner.task_queue, config=config, clock=self.planner.clock)
        self.jobs = Jobs(client, events=events, clock=self.planner.clock, scheduling=scheduling)
        submitter = _Submitter(client, self.planner, events, self.jobs)
        self.client = client
        self.processor = Processor(submitter)
        self.sessions = Sessions(config=config, secrets=secrets, store=session_store, clock=self.planner.clock)
        self.actions = DispatchNamespace(submitter, "actions")
        self.workflows = DispatchNamespace(submitter, "workflows")
        self.notifications = DispatchNamespace(submitter, "notifications")
        self.storage = DispatchNamespace(submitter, "storage")
        self.events = DispatchNamespace(submitter, "events")
        self.database = DispatchNamespace(submitter, "database")
        self.graphs = DispatchNamespace(submitter, "graphs")

    def product(self, product_tag: str, *, env: str | None = None) -> ProductBuilder:
        """Seed 004's product builder: job definitions of ``product_tag`` (run in ``env``)."""
        return ProductBuilder(product_tag, env=env, client=self.client, planner=self.planner, jobs=self.jobs)

    @classmethod
    async def connect(
        cls,
        address: str | None = None,
        namespace: str | None = None,
        *,
        task_queue: str | None = None,
        config: str | Path | ProductConfig | None = None,
        api_key: str | None = None,
        encryption_keys: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Ductape:
        """Connect to Temporal. Unset arguments come from ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
        ``TEMPORAL_API_KEY``, ``DUCTAPE_TASK_QUEUE``, ``DUCTAPE_CONFIG``, else ``localhost:7233``/``default``;
        payload keys from ``encryption_keys`` or as ``resolve_keyring`` finds them.

        Raises:
            ConfigError: the product config or the secrets file cannot be loaded.
            KeyringError: no payload encryption keys (see ``resolve_keyring``).
            RuntimeError: the server cannot be reached.
        """
        env = os.environ if environ is None else environ
        settings = Settings.from_env(
            env,
            address=address,
            namespace=namespace,
            task_queue=task_queue,
            api_key=api_key,
            encryption_keys=encryption_keys,
            config_path=config if isinstance(config, str | Path) else None,
        )
        product_config = config if isinstance(config, ProductConfig) else None
        if product_config is None and settings.config_path is not None:
            product_config = load_product_config(settings.config_path)
        names = product_config.declared_secrets() if product_config is not None else ()
        try:
            secrets = SecretStore.from_sources(env, settings.secrets_file, names=names)
        except OSError as err:
            raise ConfigError(f"cannot read secrets file {settings.secrets_file}: {err.strerror}") from None
        client = await connect_client(settings, resolve_keyring(settings))
        return cls(
            client,
            task_queue=settings.task_queue,
            config=product_config,
            secrets=secrets,
            session_store=open_session_store(settings),
            scheduling=SchedulingOptions.of(settings),
        )
