"""A job's concurrency limit: its key read from the input at dispatch, and the slot keeper it asks
(``ductape_jobs.workflows.concurrency_slots``)."""

from __future__ import annotations

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.planning.input_keys import keyed_id
from ductape_jobs.planning.inputs import NormalisedJob
from ductape_jobs.planning.layers import first_setting, setting_layers
from ductape_jobs.workflows.contracts.concurrency import ConcurrencyLimit
from ductape_jobs.workflows.contracts.flow_control import ConcurrencyDef


def job_concurrency(job: NormalisedJob, config: ProductConfig | None, app: str | None) -> ConcurrencyLimit | None:
    """The job's limit (its own, else its action's, else its app's), or None.

    Raises:
        JobInputError: naming ``concurrency.key``: an ``$Input{...}`` path the input lacks, or a value
            that is not text or a number.
    """
    where, found = first_setting(setting_layers(job, config, app), "concurrency")
    if found is None:
        return None
    limit: ConcurrencyDef = found
    slots_id, key_class = keyed_id(
        "slots", limit.key, job.input, scope=f"{job.product}:{job.env}", field=f"concurrency.key{where}",
        default=f"{app}/{job.event}" if app else job.event,
    )  # fmt: skip
    return ConcurrencyLimit(slots_id=slots_id, key_class=key_class, limit=limit.limit)
