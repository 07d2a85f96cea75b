"""The ``Ductape`` client: ``processor.job.schedule``, ``<namespace>.dispatch`` and ``jobs``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client

from activities.product_config import ProductConfig, load_product_config
from activities.secrets import SecretStore
from starter.converter import DATA_CONVERTER
from starter.dispatch import start_job
from starter.job_plan import JobPlan, normalise_dispatch, normalise_job, plan_job
from starter.jobs import Jobs
from starter.settings import Settings
from workflows.contracts import IDispatchResult


async def connect_client(settings: Settings) -> Client:
    """A Temporal client with the project's data converter.

    Raises:
        RuntimeError: the server cannot be reached (from ``Client.connect``).
    """
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        api_key=settings.api_key,
        tls=settings.tls or settings.api_key is not None,
        data_converter=DATA_CONVERTER,
    )


class _Planner:
    """Validates inputs and plans jobs for one client; shared by every namespace object."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        config: ProductConfig | None,
        secrets: SecretStore | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.config = config
        self.secrets = secrets
        self.clock = clock

    def plan(self, namespace: str | None, data: object) -> JobPlan:
        normalised = normalise_job(data) if namespace is None else normalise_dispatch(namespace, data)
        return plan_job(
            normalised, now=self.clock(), task_queue=self.task_queue, config=self.config, secrets=self.secrets
        )

    async def submit(self, namespace: str | None, data: object) -> IDispatchResult:
        plan = self.plan(namespace, data)
        return await start_job(self.client, plan, task_queue=self.task_queue)


class DispatchNamespace:
    """``ductape.<namespace>``: ``dispatch(input)`` schedules one operation of that namespace as a job."""

    def __init__(self, planner: _Planner, namespace: str) -> None:
        self._planner = planner
        self._namespace = namespace

    async def dispatch(self, data: Mapping[str, Any] | object) -> IDispatchResult:
        """Schedule the operation; returns at once with the job's ID and times.

        Raises:
            JobInputError: invalid input (names the field and the reason); nothing was started.
        """
        return await self._planner.submit(self._namespace, data)


class JobProcessor:
    """``ductape.processor.job``."""

    def __init__(self, planner: _Planner) -> None:
        self._planner = planner

    async def schedule(self, data: Mapping[str, Any] | object) -> IDispatchResult:
        """Schedule a job (seed 001's ``IJobProcessorInput``); returns at once.

        ``await ductape.jobs.result(job_id)`` waits for the result the older seeds returned.

        Raises:
            JobInputError: invalid input (names the field and the reason); nothing was started.
        """
        return await self._planner.submit(None, data)


class Processor:
    """``ductape.processor``."""

    def __init__(self, planner: _Planner) -> None:
        self.job = JobProcessor(planner)


class Ductape:
    """Entry point of the library: schedule jobs and manage them on a Temporal server."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str | None = None,
        config: ProductConfig | None = None,
        secrets: SecretStore | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Wrap an already connected client (its data converter must be ``starter.DATA_CONVERTER``).

        ``config`` lets dispatch check events, apps and envs before anything starts; ``secrets``
        lets it verify session signatures too (without them it checks what it can).
        """
        planner = _Planner(
            client, task_queue or Settings().task_queue, config, secrets, clock or (lambda: datetime.now(UTC))
        )
        self.client = client
        self.processor = Processor(planner)
        self.jobs = Jobs(client)
        self.actions = DispatchNamespace(planner, "actions")
        self.workflows = DispatchNamespace(planner, "workflows")
        self.notifications = DispatchNamespace(planner, "notifications")
        self.storage = DispatchNamespace(planner, "storage")
        self.events = DispatchNamespace(planner, "events")
        self.database = DispatchNamespace(planner, "database")
        self.graphs = DispatchNamespace(planner, "graphs")

    @classmethod
    async def connect(
        cls,
        address: str | None = None,
        namespace: str | None = None,
        *,
        task_queue: str | None = None,
        config: str | Path | ProductConfig | None = None,
        api_key: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Ductape:
        """Connect to Temporal. Unset arguments come from ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
        ``TEMPORAL_API_KEY``, ``DUCTAPE_TASK_QUEUE``, ``DUCTAPE_CONFIG``, else ``localhost:7233``/``default``.

        Raises:
            ConfigError: the product config cannot be loaded.
            RuntimeError: the server cannot be reached.
        """
        env = os.environ if environ is None else environ
        settings = Settings.from_env(
            env,
            address=address,
            namespace=namespace,
            task_queue=task_queue,
            api_key=api_key,
            config_path=config if isinstance(config, str | Path) else None,
        )
        product_config = config if isinstance(config, ProductConfig) else None
        if product_config is None and settings.config_path is not None:
            product_config = load_product_config(settings.config_path)
        secrets = SecretStore.from_sources(env, settings.secrets_file)
        client = await connect_client(settings)
        return cls(client, task_queue=settings.task_queue, config=product_config, secrets=secrets)
