"""Each event type is described once, by its descriptor in ``ductape_jobs.activities.registry``: the
client, the planner, the worker and (through the job's input) the workflow all follow that list."""

from __future__ import annotations

import sys
import tomllib
import typing
from datetime import UTC, datetime
from pathlib import Path

import httpx
from temporalio import activity

from ductape_jobs import Ductape
from ductape_jobs.activities.config.drivers import Extra
from ductape_jobs.activities.config.product_config import ProductConfig, ProductDef
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.registry import (
    DESCRIPTOR_OF,
    DISPATCH_NAMESPACE_OF,
    DISPATCH_OF,
    EVENT_TYPE_OF_ACTIVITY,
    EVENT_TYPES,
    open_activities,
)
from ductape_jobs.planning.inputs import DISPATCH_NAMESPACES, normalise_dispatch
from ductape_jobs.planning.plan import JobPlanner
from ductape_jobs.workflows.contracts.graph import RUN_GRAPH
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.event_types import (
    ACTIVITY_BEFORE_INPUT_NAMED_IT,
    NAMESPACE_BEFORE_INPUT_NAMED_IT,
    event_activity,
)
from ductape_jobs.workflows.names import SEND_NOTIFICATION

ROOT = Path(__file__).resolve().parents[2]


def test_every_runnable_type_is_described_once() -> None:
    described = [d.event_type for d in EVENT_TYPES]
    assert len(described) == len(set(described))
    assert set(described) == set(JobEventType) - {JobEventType.JOB}  # a `job` job runs its definition's event
    assert all(d.armable == (d.activity is not None) for d in EVENT_TYPES)
    assert {d.event_type for d in EVENT_TYPES if d.activity is None} == {
        JobEventType.NOTIFICATION, JobEventType.FEATURE, JobEventType.FALLBACK, JobEventType.QUOTA
    }  # fmt: skip


def test_the_client_has_one_namespace_per_described_dispatch() -> None:
    declared = {name for name, hint in typing.get_type_hints(Ductape).items() if "DispatchNamespace" in str(hint)}
    assert declared == set(DISPATCH_NAMESPACES) == set(DISPATCH_OF) == set(DISPATCH_NAMESPACE_OF.values())


def test_each_described_section_is_a_typed_field_of_the_product_config() -> None:
    sections = {d.section for d in EVENT_TYPES if d.section is not None}
    assert sections <= set(ProductDef.model_fields), sections - set(ProductDef.model_fields)


def test_a_namespace_dispatch_gets_its_described_type() -> None:
    job = normalise_dispatch("graphs", {"product": "p", "env": "dev", "graph": "g", "event": "add_user", "input": {}})
    assert job.event_type is JobEventType.GRAPH
    assert job.component_field == "graph"


def test_the_planner_writes_the_described_activity_and_namespace_into_the_job() -> None:
    planner = JobPlanner(task_queue="q", clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    graph = planner.plan(
        "graphs", {"product": "p", "env": "dev", "graph": "g", "event": "add_user", "input": {}}
    ).workflow_input
    assert (graph.event_activity, graph.namespace) == (RUN_GRAPH, "graphs")
    notification = planner.plan(
        "notifications", {"product": "p", "env": "dev", "notification": "n", "event": "hi", "input": {}}
    ).workflow_input
    assert (notification.event_activity, notification.namespace) == (None, "notifications")  # orchestrated


def test_jobs_dispatched_before_their_input_named_the_activity_keep_running_theirs() -> None:
    """Old histories and schedules carry no ``event_activity``: the frozen tables give the names those
    types always had, and agree with today's descriptors."""
    for event_type, name in ACTIVITY_BEFORE_INPUT_NAMED_IT.items():
        assert DESCRIPTOR_OF[event_type].activity == name
        assert event_activity(event_type, None) == name
    for event_type, namespace in NAMESPACE_BEFORE_INPUT_NAMED_IT.items():
        assert DISPATCH_NAMESPACE_OF[event_type] == namespace
    assert event_activity(JobEventType.GRAPH, "ductape.run_graph_v2") == "ductape.run_graph_v2"


async def test_the_worker_registers_every_described_activity_and_guards_them() -> None:
    async with httpx.AsyncClient() as http, open_activities(ProductConfig(products={}), SecretStore({}), http) as found:
        names = {activity._Definition.must_from_callable(fn).name for fn in found}
    described = {name for d in EVENT_TYPES for name in d.activity_names}
    assert described <= names
    assert set(EVENT_TYPE_OF_ACTIVITY) == {d.activity for d in EVENT_TYPES if d.activity} | {SEND_NOTIFICATION}


def test_every_extra_a_descriptor_names_is_an_extra_of_the_distribution() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    modules = {sys.modules[d.build.__module__] for d in EVENT_TYPES}
    extras = {value for module in modules for value in vars(module).values() if isinstance(value, Extra)}
    assert {"graphs", "brokers", "s3", "smtp"} <= {extra.name for extra in extras}  # the scan finds them
    assert {extra.name for extra in extras} <= set(declared)
