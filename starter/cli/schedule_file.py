"""``ductape-jobs schedule FILE.json``: one job, or a list of jobs with a progress bar.

Every item is validated before anything is started: one bad item names its index and field, and
nothing is scheduled. Items are ``job.schedule`` inputs, dispatch inputs with ``"dispatch": "<ns>"``,
or seed 004's product builder calls: ``{"product": "<tag>", "createJob": {...}}``, ``{"product": ...,
"updateJob": {"tag": ..., "data": {...}}}``, ``{"product": ..., "fetchJob": {"tag": ...}}`` and
``{"product": ..., "fetchJobs": {}}`` (``"env"`` beside ``"product"`` picks the builder's env).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ductape_jobs.client import Ductape
from ductape_jobs.management.product_jobs import validated_definition
from ductape_jobs.planning.event_inference import config_definition
from ductape_jobs.planning.inputs import DISPATCH_NAMESPACES
from ductape_jobs.planning.plan import JobPlanner
from ductape_jobs.workflows.contracts.dispatch import IProductJob
from ductape_jobs.workflows.contracts.job import JobEventType, JobInputError

CONCURRENCY = 16
BUILDER_CALLS = ("createJob", "updateJob", "fetchJob", "fetchJobs")
"""Seed 004's ``productBuilder`` calls a file item may make."""


@dataclass(frozen=True)
class Item:
    """One item of the file: what it calls, and its input."""

    namespace: str | None
    """``ductape.<namespace>.dispatch``; None: ``processor.job.schedule``, or a builder call."""
    data: Mapping[str, Any]
    builder: str | None = None
    """A ``BUILDER_CALLS`` name; ``data`` is then its argument and ``product``/``env`` the builder's."""
    product: str = ""
    env: str | None = None


def split_items(data: object) -> list[Item]:
    """The file's items, in order.

    Raises:
        JobInputError: an item that is not an object, an unknown ``dispatch`` namespace, a builder
            call without ``product`` or with something else beside it.
    """
    items = data if isinstance(data, list) else [data]
    out: list[Item] = []
    for index, item in enumerate(items):
        where = f"[{index}]." if isinstance(data, list) else ""
        if not isinstance(item, dict):
            raise JobInputError.one(where.rstrip("."), "each job must be a JSON object")
        calls = [name for name in BUILDER_CALLS if name in item]
        if calls:
            out.append(_builder_item(item, calls, where))
            continue
        rest = dict(item)
        namespace = rest.pop("dispatch", None)
        if namespace is not None and namespace not in DISPATCH_NAMESPACES:
            raise JobInputError.one(f"{where}dispatch", f"unknown namespace {namespace!r}")
        out.append(Item(namespace, rest))
    return out


def _builder_item(item: Mapping[str, Any], calls: list[str], where: str) -> Item:
    call = calls[0]
    if len(calls) > 1:
        raise JobInputError.one(f"{where}{calls[1]}", f"one builder call per item (this one has {call!r} too)")
    product, env = item.get("product"), item.get("env")
    if not isinstance(product, str) or not product:
        raise JobInputError.one(f"{where}product", f"is required for {call} (the builder's product tag)")
    if env is not None and not isinstance(env, str):
        raise JobInputError.one(f"{where}env", "must be a string")
    if extra := sorted(set(item) - {call, "product", "env"}):
        raise JobInputError.one(f"{where}{extra[0]}", f"is not a known field beside {call}")
    argument = item[call]
    if not isinstance(argument, dict):
        raise JobInputError.one(f"{where}{call}", "must be an object")
    if call != "createJob" and call != "fetchJobs" and not isinstance(argument.get("tag"), str):
        raise JobInputError.one(f"{where}{call}.tag", "is required (the job definition's tag)")
    return Item(None, argument, builder=call, product=product, env=env)


def validate_items(planner: JobPlanner, items: list[Item], listed: bool) -> None:
    """Plan every item offline (a ``type: job`` item whose definition is not in the config needs the
    server and is checked when sent; builder calls are checked for their definition's shape).

    Raises:
        JobInputError: the first bad item, its field prefixed with ``[index].`` for a list.
    """
    for index, item in enumerate(items):
        try:
            if item.builder is not None:
                if item.builder == "createJob":
                    validated_definition(item.data, field_prefix="createJob")
                continue
            job = planner.normalise(item.namespace, item.data)
            if job.event_type is JobEventType.JOB and config_definition(planner.config, job.product, job.event) is None:
                continue  # a definition made through the API: read from the server when the item is sent
            planner.plan_normalised(job)
        except JobInputError as err:
            if not listed:
                raise
            raise JobInputError([(f"[{index}].{f}" if f else f"[{index}]", r) for f, r in err.problems]) from None


async def send_item(ductape: Ductape, item: Item) -> BaseModel | list[BaseModel]:
    """Make the item's call: a DispatchResult, or what the builder call returns (definitions).

    Raises:
        JobInputError: the input is refused (nothing was started).
        JobNotFoundError: a builder call names a definition that does not exist.
    """
    if item.builder is None:
        if item.namespace is None:
            return await ductape.processor.job.schedule(item.data)
        result: BaseModel = await getattr(ductape, item.namespace).dispatch(item.data)
        return result
    builder = ductape.product(item.product, env=item.env)
    if item.builder == "createJob":
        return (await builder.create_job_with_result(item.data))[1]
    if item.builder == "updateJob":
        data = item.data.get("data", {})
        if not isinstance(data, dict):
            raise JobInputError.one("updateJob.data", "must be an object")
        return await builder.update_job(str(item.data["tag"]), data)
    if item.builder == "fetchJob":
        return await builder.fetch_job(str(item.data["tag"]))
    return list(await builder.fetch_jobs())


async def send_items(ductape: Ductape, items: list[Item], console: Console) -> list[BaseModel | list[BaseModel]]:
    """Make every item's call (``CONCURRENCY`` at a time), with a progress bar for more than one."""
    results: list[BaseModel | list[BaseModel] | None] = [None] * len(items)
    gate = asyncio.Semaphore(CONCURRENCY)
    columns = (TextColumn("scheduling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=len(items) < 2) as progress:
        task = progress.add_task("jobs", total=len(items))

        async def send(index: int, item: Item) -> None:
            async with gate:
                results[index] = await send_item(ductape, item)
                progress.advance(task)

        await asyncio.gather(*(send(i, item) for i, item in enumerate(items)))
    return [r for r in results if r is not None]


def as_json(result: BaseModel | list[BaseModel]) -> Any:
    """What the CLI prints for one item's result (a definition without its unset extensions)."""
    if isinstance(result, list):
        return [as_json(r) for r in result]
    return result.model_dump(mode="json", exclude_none=isinstance(result, IProductJob))
