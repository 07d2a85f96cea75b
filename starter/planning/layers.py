"""Where a job's flow-control settings come from, most specific first: the job itself, its action,
its app (product config). Priority, fairness and concurrency all read them in this order."""

from __future__ import annotations

from typing import Any

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.planning.inputs import NormalisedJob
from ductape_jobs.workflows.contracts.job import JobEventType


def setting_layers(job: NormalisedJob, config: ProductConfig | None, app: str | None) -> list[tuple[str, Any]]:
    """``(where, settings)`` pairs, first match first; ``where`` completes an error's field name
    (``""`` for the job's own, `` (of app billing in the product config)``)."""
    layers: list[tuple[str, Any]] = [("", job)]
    product = config.products.get(job.product) if config is not None else None
    app_def = product.apps.get(app) if product is not None and app is not None else None
    if app_def is not None:
        action = app_def.actions.get(job.event) if job.event_type is JobEventType.ACTION else None
        if action is not None:
            layers.append((f" (of action {app}/{job.event} in the product config)", action))
        layers.append((f" (of app {app} in the product config)", app_def))
    return layers


def first_setting(layers: list[tuple[str, Any]], name: str) -> tuple[str, Any]:
    """The first layer's ``name`` that is set, with where it came from; ``("", None)`` when none is."""
    return next(((where, value) for where, s in layers if (value := getattr(s, name)) is not None), ("", None))
