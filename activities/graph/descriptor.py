"""The ``graph`` event type's descriptor (``ductape_jobs.activities.event_type``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.event_type import EventTypeActivities, WorkerResources
from ductape_jobs.activities.graph.checks import check_graph_job
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.event_types import SPEC_OF


def _build(worker: WorkerResources) -> list[Callable[..., Any]]:
    from ductape_jobs.activities.graph.activity import GraphActivities

    graphs = GraphActivities(worker.config, worker.secrets)
    worker.closers.append(graphs.aclose)
    return [graphs.run_graph]


def _defines(product: ProductDef, event: str, data: Mapping[str, Any]) -> list[str | None]:
    return [tag for tag, g in product.graphs.items() if event in g.actions]


GRAPH = EventTypeActivities(
    defines=_defines,
    spec=SPEC_OF[JobEventType.GRAPH],
    build=_build,
    section="graphs",
    check=check_graph_job,
    needs_component=True,
)
