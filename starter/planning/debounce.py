"""A job's debounce window: its key read from the input at dispatch, and the window keeper it
offers itself to (``ductape_jobs.workflows.debounce_window``)."""

from __future__ import annotations

from dataclasses import dataclass

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.planning.input_keys import keyed_id
from ductape_jobs.planning.inputs import NormalisedJob
from ductape_jobs.planning.layers import first_setting, setting_layers
from ductape_jobs.workflows.contracts.flow_control import DebounceDef
from ductape_jobs.workflows.contracts.job import JobInputError


@dataclass(frozen=True)
class DebounceWindowPlan:
    window_id: str
    """The keeper's workflow ID: the product, env and a digest of the key's value (which may be personal)."""
    key_class: str
    period_ms: int
    max_wait_ms: int | None


def job_debounce(job: NormalisedJob, config: ProductConfig | None, app: str | None) -> DebounceWindowPlan | None:
    """The job's debounce (its own, else its action's, else its app's), or None.

    Raises:
        JobInputError: naming ``debounce.key`` (a path the input lacks...), or ``debounce`` on a
            recurring job or with a ``start_at`` (the window decides when it runs).
    """
    where, found = first_setting(setting_layers(job, config, app), "debounce")
    if found is None:
        return None
    if job.repeat is not None:
        raise JobInputError.one(f"debounce{where}", f"applies to one-off jobs, not to one with `{job.repeat_field}`")
    if job.start_at is not None:
        raise JobInputError.one("start_at", "must be absent on a debounced job: its window decides when it runs")
    debounce: DebounceDef = found
    window_id, key_class = keyed_id(
        "debounce", debounce.key, job.input, scope=f"{job.product}:{job.env}", field=f"debounce.key{where}",
        default=f"{app}/{job.event}" if app else job.event,
    )  # fmt: skip
    return DebounceWindowPlan(
        window_id=window_id, key_class=key_class, period_ms=debounce.period_ms, max_wait_ms=debounce.max_wait_ms
    )
