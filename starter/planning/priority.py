"""A job's place among the jobs waiting for a worker: Temporal's task priority and fairness key.

Each setting is the job's own, else its action's, else its app's (product config). The fairness key
defaults to the product, so one product's backlog does not starve another's; a key read from the
input (``$Input{tenant}``) shares the workers between tenants. The server weighs keys only with
fairness on (``matching.enableFairness``, in the embedded server's ``DYNAMIC_CONFIG``).
"""

from __future__ import annotations

import hashlib

from temporalio.common import Priority

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.planning.input_keys import input_key
from ductape_jobs.planning.inputs import NormalisedJob
from ductape_jobs.planning.layers import first_setting, setting_layers
from ductape_jobs.workflows.contracts.job import JobInputError
from ductape_jobs.workflows.placeholders import has_placeholders

MAX_FAIRNESS_KEY_BYTES = 64
"""The server refuses longer fairness keys."""


def _default_key(product: str) -> str:
    if len(product.encode()) <= MAX_FAIRNESS_KEY_BYTES:
        return product
    return f"{product[:40]}~{hashlib.sha256(product.encode()).hexdigest()[:16]}"


def job_priority(job: NormalisedJob, config: ProductConfig | None, app: str | None) -> Priority:
    """The job's priority, fairness key (read from its input) and weight, as Temporal takes them.

    Raises:
        JobInputError: naming ``fairness_key``: an ``$Input{...}`` path the input does not hold or that
            holds no text or number, a placeholder in the key, or a key over 64 bytes.
    """
    layers = setting_layers(job, config, app)
    _, priority = first_setting(layers, "priority")
    _, weight = first_setting(layers, "fairness_weight")
    source, template = first_setting(layers, "fairness_key")
    if template is None:
        return Priority(priority_key=priority, fairness_key=_default_key(job.product), fairness_weight=weight)
    field = f"fairness_key{source}"
    key = input_key(template, job.input, field=field, max_bytes=MAX_FAIRNESS_KEY_BYTES)
    if has_placeholders(key) or "$Secret{" in key:
        raise JobInputError.one(field, f"reads {key!r}, a placeholder: a fairness key is stored in clear")
    return Priority(priority_key=priority, fairness_key=key, fairness_weight=weight)


def priority_note(priority: Priority, product: str) -> str:
    """What a job's summary adds (the Web UI shows it): a priority or a fair share other than the defaults."""
    note = f" · priority {priority.priority_key}" if priority.priority_key is not None else ""
    if priority.fairness_key is not None and priority.fairness_key != _default_key(product):
        note += f" · fair share {priority.fairness_key}"
    if priority.fairness_weight is not None:
        note += f" ×{priority.fairness_weight:g}"
    return note
