"""Every activity the worker registers, bound to the resources they share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx

from activities.http_action import ActionActivities
from activities.job_events import JobEventActivities
from activities.placeholder_activity import PlaceholderActivities
from activities.product_config import ProductConfig
from activities.secrets import SecretStore
from activities.session_store import SessionStore


def build_activities(
    config: ProductConfig, secrets: SecretStore, http: httpx.AsyncClient, session_store: SessionStore | None = None
) -> Sequence[Callable[..., Any]]:
    """The activity callables for ``Worker(activities=...)``; with a session store, revoked sessions fail."""
    return [
        PlaceholderActivities(config, secrets, session_store).resolve_placeholders,
        ActionActivities(config, secrets, http).run_action,
        *_event_activities(JobEventActivities(config, secrets, http)),
    ]


def _event_activities(events: JobEventActivities) -> list[Callable[..., Any]]:
    return [events.job_event_targets, events.deliver_job_event]
