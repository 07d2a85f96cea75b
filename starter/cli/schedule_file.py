"""``ductape-jobs schedule FILE.json``: one job, or a list of jobs with a progress bar.

Every item is validated before anything is started: one bad item names its index and field, and
nothing is scheduled. Items are ``job.schedule`` inputs, dispatch inputs with ``"dispatch": "<ns>"``
(as ``ductape.jobs.schedule_many`` takes them, ``ductape_jobs.management.bulk_dispatch``, whose code
sends a list here too), or seed 004's product builder calls, which only a file may hold:
``{"product": "<tag>", "createJob": {...}}``, ``{"product": ..., "updateJob": {"tag": ..., "data":
{...}}}``, ``{"product": ..., "fetchJob": {"tag": ...}}`` and ``{"product": ..., "fetchJobs": {}}``
(``"env"`` beside ``"product"`` picks the builder's env). An item of a list that fails when sent is
printed as ``{"error", "error_type"}`` in its place, after all the others were sent.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ductape_jobs.client import Ductape
from ductape_jobs.management.bulk_dispatch import (
    BulkProgress,
    DispatchItem,
    ItemFailure,
    at_index,
    check_dispatch_item,
    check_each,
    dispatch_item,
    send_all,
)
from ductape_jobs.management.product_jobs import validated_definition
from ductape_jobs.planning.plan import JobPlanner
from ductape_jobs.workflows.contracts.dispatch import IProductJob
from ductape_jobs.workflows.contracts.job import JobInputError

BUILDER_CALLS = ("createJob", "updateJob", "fetchJob", "fetchJobs")
"""Seed 004's ``productBuilder`` calls a file item may make."""
SOME_ITEMS_FAILED = 3
"""The exit code of a list some of whose items failed when sent (the others were sent)."""


@dataclass(frozen=True)
class BuilderCall:
    """A file item calling seed 004's product builder: ``data`` is the call's argument."""

    builder: str
    """A ``BUILDER_CALLS`` name."""
    data: Mapping[str, Any]
    product: str
    env: str | None = None


Item = DispatchItem | BuilderCall
"""One item of the file: a job to dispatch, or a builder call."""
Sent = BaseModel | list[BaseModel]
"""What an item's call returns: a DispatchResult, or a builder call's definition(s)."""


def read_file(path: Path) -> object:
    """The file's JSON.

    Raises:
        JobInputError: it cannot be read or is not JSON.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise JobInputError.one("", f"cannot read {path}: {err}") from None


def split_items(data: object) -> list[Item]:
    """The file's items, in order.

    Raises:
        JobInputError: an item that is not an object, an unknown ``dispatch`` namespace, a builder
            call without ``product`` or with something else beside it.
    """
    items = data if isinstance(data, list) else [data]
    out: list[Item] = []
    for index, item in enumerate(items):
        try:
            calls = [name for name in BUILDER_CALLS if isinstance(item, dict) and name in item]
            out.append(_builder_item(item, calls) if calls else dispatch_item(item))
        except JobInputError as err:
            raise at_index(err, index) if isinstance(data, list) else err from None
    return out


def _builder_item(item: Mapping[str, Any], calls: list[str]) -> BuilderCall:
    call = calls[0]
    if len(calls) > 1:
        raise JobInputError.one(calls[1], f"one builder call per item (this one has {call!r} too)")
    product, env = item.get("product"), item.get("env")
    if not isinstance(product, str) or not product:
        raise JobInputError.one("product", f"is required for {call} (the builder's product tag)")
    if env is not None and not isinstance(env, str):
        raise JobInputError.one("env", "must be a string")
    if extra := sorted(set(item) - {call, "product", "env"}):
        raise JobInputError.one(extra[0], f"is not a known field beside {call}")
    argument = item[call]
    if not isinstance(argument, dict):
        raise JobInputError.one(call, "must be an object")
    if call != "createJob" and call != "fetchJobs" and not isinstance(argument.get("tag"), str):
        raise JobInputError.one(f"{call}.tag", "is required (the job definition's tag)")
    return BuilderCall(call, argument, product=product, env=env)


def validate_items(planner: JobPlanner, items: list[Item], listed: bool) -> None:
    """Plan every item offline (as ``check_dispatch_item``; builder calls are checked for their
    definition's shape).

    Raises:
        JobInputError: every bad item's problems, fields prefixed with ``[index].`` for a list.
    """

    def check(item: Item) -> None:
        if isinstance(item, DispatchItem):
            check_dispatch_item(planner, item)
        elif item.builder == "createJob":
            validated_definition(item.data, field_prefix="createJob")

    if listed:
        check_each(items, check)
    else:
        check(items[0])


async def send_item(ductape: Ductape, item: Item) -> Sent:
    """Make the item's call: a DispatchResult, or what the builder call returns (definitions).

    Raises:
        JobInputError: the input is refused (nothing was started).
        JobNotFoundError: a builder call names a definition that does not exist.
    """
    if isinstance(item, DispatchItem):
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


async def send_items(ductape: Ductape, items: list[Item], console: Console) -> list[Sent | ItemFailure]:
    """Make every item's call (``bulk_dispatch.send_all``: 16 at a time, each item's failure its own),
    with a progress bar for more than one."""
    columns = (TextColumn("scheduling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TextColumn("{task.description}"), console=console, disable=len(items) < 2) as progress:
        task = progress.add_task("", total=len(items))

        def advance(state: BulkProgress) -> None:
            progress.update(task, completed=state.done, description=f"{state.failed} failed" if state.failed else "")

        return await send_all(items, lambda item: send_item(ductape, item), on_progress=advance)


def as_json(outcome: Sent | ItemFailure) -> Any:
    """What the CLI prints for one item: its result (a definition without its unset extensions), or
    ``{"error", "error_type"}``."""
    if isinstance(outcome, ItemFailure):
        return {"error": outcome.error, "error_type": outcome.error_type}
    if isinstance(outcome, list):
        return [as_json(r) for r in outcome]
    return outcome.model_dump(mode="json", exclude_none=isinstance(outcome, IProductJob))


async def schedule_file(
    path: Path, planner: JobPlanner, connect: Callable[[], Awaitable[Ductape]], console: Console
) -> int:
    """The ``schedule`` command: validate the file's items (before connecting), send them, print the
    result of each; returns the exit code (0, or ``SOME_ITEMS_FAILED``).

    Raises:
        JobInputError: the file cannot be read, or an item is invalid (nothing was sent); a single
            job's input refused when sent.
        Exception: as ``send_item`` for a single job, and as ``connect``.
    """
    data = read_file(path)
    items = split_items(data)
    validate_items(planner, items, listed=isinstance(data, list))
    ductape = await connect()
    if not isinstance(data, list):  # one job: its error is the command's (and its exit code)
        _print_json(as_json(await send_item(ductape, items[0])))
        return 0
    outcomes = await send_items(ductape, items, console)
    _print_json([as_json(outcome) for outcome in outcomes])
    return SOME_ITEMS_FAILED if any(isinstance(outcome, ItemFailure) for outcome in outcomes) else 0


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))
