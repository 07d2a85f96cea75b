"""Dispatch-time checks of broker jobs against a product's config (the event type's descriptor names them); apart
from the section's model, which the product config imports."""

from __future__ import annotations

from ductape_jobs.activities.broker.config import BODY_METHODS, broker_event
from ductape_jobs.activities.config.component_lookup import sole_owner
from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.workflows.contracts.job import JobInputError


def check_publish(product: ProductDef, env: str, component: str | None, event: str, component_field: str) -> str:
    """Dispatch-time check of a publish job (``COMPONENT_CHECKS``); returns the broker tag, found
    from the event when the caller named none.

    Raises:
        JobInputError: naming ``component_field`` (unknown broker), ``env`` or ``event``.
    """
    if component is None:
        owners = [tag for tag, broker in product.brokers.items() if event in broker.events]
        component = sole_owner("broker", owners, field=component_field, event=event)
    broker_event(product.brokers, component, env, event, field=component_field)
    return component


def check_subscribe(product: ProductDef, env: str, component: str | None, event: str, component_field: str) -> str:
    """Dispatch-time check of a subscribe job: as ``check_publish``, and the event's target action
    must exist in ``env`` and send a body (the message travels as the body).

    Raises:
        JobInputError: naming ``component_field``, ``env`` or ``event``.
    """
    tag = check_publish(product, env, component, event, component_field)
    target = product.brokers[tag].events[event].target
    if target is None:
        raise JobInputError.one("event", f"broker event {event!r} has no `target`, so it cannot be subscribed")
    app = product.apps.get(target.app)
    action = app.actions.get(target.event) if app is not None else None
    if app is None or action is None:
        raise JobInputError.one("event", f"target {target.app}/{target.event} of {event!r} is not an app action")
    if env not in app.envs:
        raise JobInputError.one("env", f"target app {target.app!r} of {event!r} has no settings for env {env!r}")
    if action.method not in BODY_METHODS:
        raise JobInputError.one(
            "event", f"target {target.app}/{target.event} is a {action.method}: it must send a body (POST/PUT/PATCH)"
        )
    return tag
