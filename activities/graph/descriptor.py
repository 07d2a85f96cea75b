"""The ``graph`` event type's descriptor (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ductape_jobs.activities.config.drivers import Extra, Need
from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.event_type import Dispatch, EventTypeDescriptor, WorkerResources
from ductape_jobs.activities.graph.checks import check_graph_job
from ductape_jobs.workflows.contracts.dispatch import IGraphDispatchInput
from ductape_jobs.workflows.contracts.graph import GRAPH_OPERATIONS, RUN_GRAPH
from ductape_jobs.workflows.contracts.job import JobEventType


def _build(worker: WorkerResources) -> list[Callable[..., Any]]:
    from ductape_jobs.activities.graph.activity import GraphActivities

    graphs = GraphActivities(worker.config, worker.secrets)
    worker.closers.append(graphs.aclose)
    return [graphs.run_graph]


def _defines(product: ProductDef, event: str, data: Mapping[str, Any]) -> list[str | None]:
    return [tag for tag, g in product.graphs.items() if event in g.actions]


FALKORDB = Extra("graphs", ("falkordb",))
BOLT = Extra("graphs", ("neo4j",))


def _drivers(product: ProductDef, base: str, secrets: SecretStore | None) -> Iterator[Need]:
    for name, graph in product.graphs.items():
        for env, graph_env in graph.envs.items():
            where = f"{base}.graphs.{name}.envs.{env}"
            yield Need(where, graph_env.kind, FALKORDB if graph_env.kind == "falkordb" else BOLT)


GRAPH = EventTypeDescriptor(
    event_type=JobEventType.GRAPH,
    activity=RUN_GRAPH,
    dispatch=Dispatch(namespace="graphs", model=IGraphDispatchInput, component_field="graph"),
    defines=_defines,
    is_operation=lambda event: event in GRAPH_OPERATIONS,
    drivers=_drivers,
    build=_build,
    section="graphs",
    check=check_graph_job,
    needs_component=True,
)
