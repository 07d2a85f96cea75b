"""Every activity the worker registers, bound to the resources they share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx

from activities.http_action import ActionActivities
from activities.placeholder_activity import PlaceholderActivities
from activities.product_config import ProductConfig
from activities.secrets import SecretStore


def build_activities(
    config: ProductConfig, secrets: SecretStore, http: httpx.AsyncClient
) -> Sequence[Callable[..., Any]]:
    """The activity callables for ``Worker(activities=...)``."""
    return [
        PlaceholderActivities(config, secrets).resolve_placeholders,
        ActionActivities(config, secrets, http).run_action,
    ]
