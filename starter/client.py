"""The ``Ductape`` client: ``processor.job.schedule``, ``<namespace>.dispatch`` and ``jobs``."""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine, Generator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

from ductape_jobs.activities.config.product_config import ConfigError, ProductConfig, load_product_config
from ductape_jobs.activities.config.secrets import SecretsFileError, SecretStore
from ductape_jobs.activities.session.store import SessionStore
from ductape_jobs.codec.converter import DATA_CONVERTER
from ductape_jobs.codec.encryption import Keyring, KeyringError, encrypted_converter
from ductape_jobs.connection import TemporalUnreachableError
from ductape_jobs.management.audit import AuditTrail, default_identity
from ductape_jobs.management.job_events import JobEventEmitter
from ductape_jobs.management.jobs import Jobs
from ductape_jobs.management.product_jobs import ProductBuilder
from ductape_jobs.planning.event_inference import resolve_definitions
from ductape_jobs.planning.inputs import DISPATCH_NAMESPACES
from ductape_jobs.planning.plan import JobPlanner
from ductape_jobs.scheduling import SchedulingOptions
from ductape_jobs.scheduling.dispatch import start_job
from ductape_jobs.sessions import Sessions
from ductape_jobs.settings import Settings
from ductape_jobs.worker.telemetry import Telemetry
from ductape_jobs.workflows.arming import ARM_AHEAD
from ductape_jobs.workflows.contracts.dispatch import IDispatchResult
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.names import DEFAULT_TASK_QUEUE

DEFAULT_DATA_DIR = Path(".data")
"""Where ``ductape-jobs dev`` and ``ductape-jobs worker`` keep their files (relative to the working directory)."""
DEFAULT_KEY_FILE = DEFAULT_DATA_DIR / "encryption.keys"
"""Where ``ductape-jobs dev`` keeps its generated keys."""


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


def open_session_store(settings: Settings, data_dir: Path = DEFAULT_DATA_DIR) -> SessionStore:
    """The session store of ``settings`` (its tables are created on first use)."""
    if settings.session_store is None:
        data_dir.mkdir(parents=True, exist_ok=True)
    return SessionStore.from_url(settings.session_store_url(data_dir))


async def connect_client(
    settings: Settings, keyring: Keyring | None, telemetry: Telemetry | None = None, *, identity: str | None = None
) -> Client:
    """A Temporal client with the project's data converter, encrypting with ``keyring`` if given (and
    then refusing unencrypted payloads unless ``settings.plaintext``), and with the process's metrics
    runtime and tracing interceptors if given. ``identity``: who the server records this client's calls
    as (a worker keeps the SDK's default, its process and host).

    Raises:
        TemporalUnreachableError: the server cannot be reached (``Client.connect`` failed).
    """
    telemetry = telemetry or Telemetry()
    try:
        return await Client.connect(
            **settings.connect_options(),
            data_converter=(
                DATA_CONVERTER if keyring is None else encrypted_converter(keyring, accept_plaintext=settings.plaintext)
            ),
            runtime=telemetry.runtime,
            interceptors=telemetry.interceptors,
            identity=identity,
        )
    except RuntimeError as err:  # the bridge's only error type: unreachable, TLS handshake, bad credentials
        raise TemporalUnreachableError(f"cannot connect to Temporal at {settings.address}: {err}") from err


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

    # The dispatch namespaces, one per event type with a ``dispatch`` in its descriptor
    # (``ductape_jobs.activities.registry.DISPATCH_OF``), set in ``__init__``. Declared here only for
    # type checkers, which cannot see attributes made from a list (tests/activities/test_registry.py
    # fails when a described namespace is not declared).
    actions: DispatchNamespace
    workflows: DispatchNamespace
    notifications: DispatchNamespace
    storage: DispatchNamespace
    events: DispatchNamespace
    database: DispatchNamespace
    graphs: DispatchNamespace

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
        identity: str | None = None,
    ) -> None:
        """Wrap an already connected client (its data converter must be ``ductape_jobs.DATA_CONVERTER``).

        ``config`` lets dispatch check events, apps and envs before anything starts; ``secrets``
        lets it verify session signatures too (without them it checks what it can). ``arm_ahead``:
        how early at most a one-off job hands its event to a worker, which starts it at the exact
        instant (``ductape_jobs.workflows.arming``); ``timedelta(0)`` wakes jobs at their instant instead (for the
        time-skipping test server, whose virtual clock an activity's real wait cannot skip).
        ``scheduling``: arming ahead and the DST companion of recurring jobs (``Settings.arm_recurring``,
        ``Settings.dst_companion``; default: both on). ``identity``: who this client's management
        actions are recorded as in each job's audit trail (default ``user@host``).
        """
        self.planner = JobPlanner(
            task_queue=task_queue or DEFAULT_TASK_QUEUE,
            config=config,
            secrets=secrets,
            clock=clock or (lambda: datetime.now(UTC)),
            arm_ahead=arm_ahead,
        )
        events = JobEventEmitter(client, task_queue=self.planner.task_queue, config=config, clock=self.planner.clock)
        audit = AuditTrail(client, task_queue=self.planner.task_queue, identity=identity, clock=self.planner.clock)
        self.jobs = Jobs(client, events=events, clock=self.planner.clock, scheduling=scheduling, audit=audit)
        submitter = _Submitter(client, self.planner, events, self.jobs)
        self.jobs.dispatcher = submitter  # ``jobs.schedule_many`` plans and starts as ``dispatch`` does
        self.client = client
        self.processor = Processor(submitter)
        self.sessions = Sessions(config=config, secrets=secrets, store=session_store, clock=self.planner.clock)
        # One ``ductape.<namespace>`` per event type that has a dispatch (its descriptor says which).
        for namespace in DISPATCH_NAMESPACES:
            setattr(self, namespace, DispatchNamespace(submitter, namespace))
        self._owned_store: SessionStore | None = None

    def product(self, product_tag: str, *, env: str | None = None) -> ProductBuilder:
        """Seed 004's product builder: job definitions of ``product_tag`` (run in ``env``)."""
        return ProductBuilder(product_tag, env=env, client=self.client, planner=self.planner, jobs=self.jobs)

    async def close(self) -> None:
        """Close what ``connect`` opened (the session store's connection pool); idempotent. A
        ``Ductape`` built around the caller's own client and store leaves them open. The Temporal
        client has nothing to close: its connection goes with the last reference to it."""
        store, self._owned_store = self._owned_store, None
        if store is not None:
            await store.close()

    async def __aenter__(self) -> Ductape:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @classmethod
    def connect(
        cls,
        address: str | None = None,
        namespace: str | None = None,
        *,
        task_queue: str | None = None,
        config: str | Path | ProductConfig | None = None,
        api_key: str | None = None,
        encryption_keys: str | None = None,
        data_dir: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Connecting:
        """Connect to Temporal: ``await Ductape.connect()``, or ``async with Ductape.connect() as ductape:``,
        which also closes it (``close``).

        Unset arguments come from the environment (``environ``, else ``os.environ``, read here and
        nowhere below): the connection from Temporal's client profile and ``TEMPORAL_*`` variables
        (``ductape_jobs.connection``: ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``,
        ``TEMPORAL_PROFILE``, mTLS certificates...), else ``localhost:7233``/``default``; the rest from
        ``DUCTAPE_TASK_QUEUE``, ``DUCTAPE_CONFIG``... (``Settings``). Payload keys from
        ``encryption_keys`` or as ``resolve_keyring`` finds them (in ``data_dir`` if given).

        Nothing is created in the working directory unless asked: the session store is
        ``DUCTAPE_SESSION_STORE``, else ``data_dir/sessions.sqlite`` when ``data_dir`` is given, else
        the one ``ductape-jobs dev`` left in ``./.data`` if there is one, else none (session calls then
        fail with ``SESSION_STORE_MISSING``).

        Raises:
            ConfigError: a setting, the client profile, the product config or the secrets file is invalid.
            KeyringError: no payload encryption keys (see ``resolve_keyring``).
            TemporalUnreachableError: the server cannot be reached.
        """
        return Connecting(
            cls._open(
                environ=os.environ if environ is None else environ,
                config=config,
                data_dir=None if data_dir is None else Path(data_dir),
                address=address,
                namespace=namespace,
                task_queue=task_queue,
                api_key=api_key,
                encryption_keys=encryption_keys,
            )
        )

    @classmethod
    async def _open(
        cls,
        *,
        environ: Mapping[str, str],
        config: str | Path | ProductConfig | None,
        data_dir: Path | None,
        **overrides: str | None,
    ) -> Ductape:
        settings = Settings.from_env(
            environ, client_profile=True, **overrides, config_path=config if isinstance(config, str | Path) else None
        )
        product_config = config if isinstance(config, ProductConfig) else None
        if product_config is None and settings.config_path is not None:
            product_config = load_product_config(settings.config_path)
        names = product_config.declared_secrets() if product_config is not None else ()
        try:
            secrets = SecretStore.from_sources(environ, settings.secrets_file, names=names)
        except OSError as err:
            raise ConfigError(f"cannot read secrets file {settings.secrets_file}: {err.strerror}") from None
        except SecretsFileError as err:
            raise ConfigError(f"secrets file {settings.secrets_file}: {err}") from None
        keyring = resolve_keyring(settings, default_file=(data_dir or DEFAULT_DATA_DIR) / "encryption.keys")
        identity = settings.identity or default_identity()
        client = await connect_client(settings, keyring, identity=identity)
        store = _client_session_store(settings, data_dir)
        ductape = cls(
            client,
            task_queue=settings.task_queue,
            config=product_config,
            secrets=secrets,
            session_store=store,
            scheduling=SchedulingOptions.of(settings),
            identity=identity,
        )
        ductape._owned_store = store
        return ductape


def _client_session_store(settings: Settings, data_dir: Path | None) -> SessionStore | None:
    """The session store of a library client, creating nothing unasked (see ``Ductape.connect``)."""
    if settings.session_store is not None or data_dir is not None:
        return open_session_store(settings, data_dir or DEFAULT_DATA_DIR)
    if (DEFAULT_DATA_DIR / "sessions.sqlite").is_file():
        return open_session_store(settings)
    return None


class Connecting:
    """``Ductape.connect(...)``: await it for a ``Ductape``, or ``async with`` it to close it at the end."""

    def __init__(self, opening: Coroutine[Any, Any, Ductape]) -> None:
        self._opening = opening
        self._ductape: Ductape | None = None

    def __await__(self) -> Generator[Any, None, Ductape]:
        return self._opening.__await__()

    async def __aenter__(self) -> Ductape:
        self._ductape = await self._opening
        return self._ductape

    async def __aexit__(self, *exc: object) -> None:
        if self._ductape is not None:
            await self._ductape.close()
