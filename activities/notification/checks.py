"""Dispatch-time checks of notification jobs against a product's config (the event type's descriptor names them); apart
from the section's model, which the product config imports."""

from __future__ import annotations

from ductape_jobs.activities.config.component_lookup import component_in_env, sole_owner
from ductape_jobs.activities.config.product_config import ProductDef
from ductape_jobs.activities.notification.config import (
    MessageDef,
    NotificationConfigError,
    NotificationDef,
    NotificationEnv,
)
from ductape_jobs.workflows.contracts.job import JobInputError


def notification_env(
    product: ProductDef, tag: str, env: str, event: str
) -> tuple[NotificationDef, NotificationEnv, MessageDef]:
    """The notification ``tag``, its providers in ``env`` and its message ``event``.

    Raises:
        NotificationConfigError: naming the first missing piece.
    """
    found = product.notifications.get(tag)
    if found is None:
        known = ", ".join(sorted(product.notifications)) or "none"
        raise NotificationConfigError(f"notification {tag!r} is not in the product (known: {known})")
    providers = found.envs.get(env)
    if providers is None:
        raise NotificationConfigError(f"notification {tag!r} has no settings for env {env!r}")
    message = found.messages.get(event)
    if message is None:
        known = ", ".join(sorted(found.messages)) or "none"
        raise NotificationConfigError(f"notification {tag!r} has no message {event!r} (known: {known})")
    return found, providers, message


def check_notification(product: ProductDef, env: str, component: str | None, event: str, field: str) -> str:
    """Dispatch-time check of a notification job; returns the notification tag.

    Without a tag, the one notification defining the event is taken.

    Raises:
        JobInputError: naming ``field`` (unknown or ambiguous tag), ``env`` or ``event``.
    """
    if component is None:
        owners = [tag for tag, n in product.notifications.items() if event in n.messages]
        component = sole_owner("notification", owners, field=field, event=event)
    notification = component_in_env("notification", product.notifications, component, env, field=field)
    if event not in notification.messages:
        known = ", ".join(sorted(notification.messages)) or "none"
        raise JobInputError.one("event", f"notification {component!r} has no message {event!r} (known: {known})")
    return component
