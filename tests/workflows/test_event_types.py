"""Each event type is described once (``ductape_jobs.workflows.event_types``): the client, the planner,
the workflow and the worker all follow that table."""

from __future__ import annotations

import typing

import httpx
from temporalio import activity

from ductape_jobs import Ductape
from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.registry import open_activities
from ductape_jobs.planning.inputs import DISPATCH_NAMESPACES, normalise_dispatch
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.event_types import (
    ARMED_EVENT_TYPES,
    DISPATCH_NAMESPACE_OF,
    EVENT_ACTIVITIES,
    EVENT_TYPES,
    ORCHESTRATED_EVENT_TYPES,
    SUPPORTED_EVENT_TYPES,
)


def test_every_runnable_type_is_described_once() -> None:
    described = [spec.event_type for spec in EVENT_TYPES]
    assert len(described) == len(set(described))
    assert set(described) == set(JobEventType) - {JobEventType.JOB}  # a `job` job runs its definition's event
    assert set(described) == SUPPORTED_EVENT_TYPES
    assert ORCHESTRATED_EVENT_TYPES.isdisjoint(EVENT_ACTIVITIES)
    assert set(EVENT_ACTIVITIES) == ARMED_EVENT_TYPES


def test_the_client_has_one_namespace_per_described_dispatch() -> None:
    declared = {name for name, hint in typing.get_type_hints(Ductape).items() if "DispatchNamespace" in str(hint)}
    assert declared == set(DISPATCH_NAMESPACES) == set(DISPATCH_NAMESPACE_OF.values())


def test_a_namespace_dispatch_gets_its_described_type() -> None:
    job = normalise_dispatch("graphs", {"product": "p", "env": "dev", "graph": "g", "event": "add_user", "input": {}})
    assert job.event_type is JobEventType.GRAPH
    assert job.component_field == "graph"


async def test_the_worker_registers_an_activity_for_every_described_activity() -> None:
    async with httpx.AsyncClient() as http, open_activities(ProductConfig(products={}), SecretStore({}), http) as found:
        names = {activity._Definition.must_from_callable(fn).name for fn in found}
    assert set(EVENT_ACTIVITIES.values()) <= names


def test_the_worker_describes_each_type_once_with_the_workflows_entry() -> None:
    from ductape_jobs.activities.registry import EVENT_TYPE_ACTIVITIES

    assert [d.spec for d in EVENT_TYPE_ACTIVITIES] == list(EVENT_TYPES)
