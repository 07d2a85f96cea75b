"""A job's concurrency limit: its key read from the input at dispatch, and the slot keeper it asks
(``ductape_jobs.workflows.concurrency_slots``)."""

from __future__ import annotations

import hashlib

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.planning.input_keys import input_key
from ductape_jobs.planning.inputs import NormalisedJob
from ductape_jobs.planning.layers import first_setting, setting_layers
from ductape_jobs.workflows.contracts.concurrency import ConcurrencyLimit
from ductape_jobs.workflows.contracts.dispatch import ConcurrencyDef

MAX_KEY_BYTES = 1000


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
    key_class = limit.key or (f"{app}/{job.event}" if app else job.event)
    value = (
        input_key(limit.key, job.input, field=f"concurrency.key{where}", max_bytes=MAX_KEY_BYTES) if limit.key else ""
    )
    # The keeper's ID is seen by anyone who can list workflows: a digest, not the value (a user ID...).
    digest = hashlib.sha256(f"{key_class}\0{value}".encode()).hexdigest()[:24]
    return ConcurrencyLimit(slots_id=f"slots:{job.product}:{job.env}:{digest}", key_class=key_class, limit=limit.limit)
