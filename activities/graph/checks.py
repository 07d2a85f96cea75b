"""Dispatch-time checks of graph jobs against a product's config (the event type's descriptor names them); apart
from the section's model, which the product config imports."""

from __future__ import annotations

from ductape_jobs.activities.config.component_lookup import component_in_env, sole_owner
from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.workflows.contracts.graph import GRAPH_OPERATIONS
from ductape_jobs.workflows.contracts.job import JobInputError


def check_graph_job(product: ProductDef, env: str, component: str | None, event: str, field: str) -> str:
    """The graph tag that runs ``event`` in ``env`` (``COMPONENT_CHECKS[JobEventType.GRAPH]``).

    Raises:
        JobInputError: naming ``field`` (unknown graph, or none/several fit), ``env`` or ``event``.
    """
    if component is None:
        if event in GRAPH_OPERATIONS:
            owners = list(product.graphs)
        else:
            owners = [tag for tag, graph in product.graphs.items() if event in graph.actions]
        component = sole_owner("graph", owners, field=field, event=event)
    graph = component_in_env("graph", product.graphs, component, env, field=field)
    if event not in graph.actions and event not in GRAPH_OPERATIONS:
        known = ", ".join([*GRAPH_OPERATIONS, *sorted(graph.actions)])
        raise JobInputError.one("event", f"graph {component!r} has no operation or action {event!r} (known: {known})")
    return component
