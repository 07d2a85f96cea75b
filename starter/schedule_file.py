"""``ductape-jobs schedule FILE.json``: one job, or a list of jobs with a progress bar.

Every item is validated before anything is started: one bad item names its index and field, and
nothing is scheduled. Items are ``job.schedule`` inputs, or dispatch inputs with ``"dispatch": "<ns>"``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from starter.client import Ductape
from starter.event_inference import config_definition
from starter.job_inputs import DISPATCH_NAMESPACES
from starter.job_plan import JobPlanner
from workflows.contracts import JobEventType, JobInputError
from workflows.dispatch_contracts import IDispatchResult

CONCURRENCY = 16


def split_items(data: object) -> list[tuple[str | None, Mapping[str, Any]]]:
    """(namespace, input) per item, in order.

    Raises:
        JobInputError: an item that is not an object, or an unknown ``dispatch`` namespace.
    """
    items = data if isinstance(data, list) else [data]
    out: list[tuple[str | None, Mapping[str, Any]]] = []
    for index, item in enumerate(items):
        where = f"[{index}]." if isinstance(data, list) else ""
        if not isinstance(item, dict):
            raise JobInputError.one(where.rstrip("."), "each job must be a JSON object")
        rest = dict(item)
        namespace = rest.pop("dispatch", None)
        if namespace is not None and namespace not in DISPATCH_NAMESPACES:
            raise JobInputError.one(f"{where}dispatch", f"unknown namespace {namespace!r}")
        out.append((namespace, rest))
    return out


def validate_items(planner: JobPlanner, items: list[tuple[str | None, Mapping[str, Any]]], listed: bool) -> None:
    """Plan every item offline (a ``type: job`` item whose definition is not in the config needs the
    server and is checked when sent).

    Raises:
        JobInputError: the first bad item, its field prefixed with ``[index].`` for a list.
    """
    for index, (namespace, item) in enumerate(items):
        try:
            job = planner.normalise(namespace, item)
            if job.event_type is JobEventType.JOB and config_definition(planner.config, job.product, job.event) is None:
                continue  # a definition made through the API: read from the server when the item is sent
            planner.plan_normalised(job)
        except JobInputError as err:
            if not listed:
                raise
            raise JobInputError([(f"[{index}].{f}" if f else f"[{index}]", r) for f, r in err.problems]) from None


async def send_items(
    ductape: Ductape, items: list[tuple[str | None, Mapping[str, Any]]], console: Console
) -> list[IDispatchResult]:
    """Dispatch every item (``CONCURRENCY`` at a time), with a progress bar for more than one."""
    results: list[IDispatchResult | None] = [None] * len(items)
    gate = asyncio.Semaphore(CONCURRENCY)
    columns = (TextColumn("scheduling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=len(items) < 2) as progress:
        task = progress.add_task("jobs", total=len(items))

        async def send(index: int, namespace: str | None, item: Mapping[str, Any]) -> None:
            async with gate:
                if namespace is None:
                    results[index] = await ductape.processor.job.schedule(item)
                else:
                    results[index] = await getattr(ductape, namespace).dispatch(item)
                progress.advance(task)

        await asyncio.gather(*(send(i, ns, item) for i, (ns, item) in enumerate(items)))
    return [r for r in results if r is not None]
