"""Dispatch-time checks of ``function``, ``feature``, ``fallback`` and ``quota`` jobs against the config.

User code is not imported here (a client that only dispatches may not have it); the worker imports
it at start and refuses to run with a bad import path.
"""

from __future__ import annotations

from collections.abc import Callable

from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.workflows.contracts.job import JobEventType, JobInputError


def check_function(product: ProductDef, env: str, component: str | None, event: str, field: str) -> str | None:
    """Raises: JobInputError naming ``event`` when the function is not defined."""
    if event not in product.functions:
        raise JobInputError.one("event", f"function {event!r} is not defined (known: {sorted(product.functions)})")
    return component


def check_feature(product: ProductDef, env: str, component: str | None, event: str, field: str) -> str | None:
    """Raises: JobInputError naming the workflow field (``workflow`` or ``event``) when it is not defined."""
    if event not in product.features:
        name = "workflow" if field == "workflow" else "event"
        raise JobInputError.one(name, f"feature {event!r} is not defined (known: {sorted(product.features)})")
    return component


def check_route(kind: JobEventType) -> Callable[[ProductDef, str, str | None, str, str], str | None]:
    """The check of a fallback or quota tag, and of each of its options' components.

    The returned check raises JobInputError naming ``event`` when the tag is not defined, or when an
    option names an app that is not in the product.
    """

    def check(product: ProductDef, env: str, component: str | None, event: str, field: str) -> str | None:
        routes = product.fallbacks if kind is JobEventType.FALLBACK else product.quotas
        route = routes.get(event)
        if route is None:
            raise JobInputError.one("event", f"{kind.value} {event!r} is not defined (known: {sorted(routes)})")
        for number, option in enumerate(route.options, start=1):
            if option.type is JobEventType.ACTION and option.app is not None and option.app not in product.apps:
                raise JobInputError.one(
                    "event", f"{kind.value} {event!r}: option {number} names app {option.app!r}, not in the product"
                )
        return component

    return check
