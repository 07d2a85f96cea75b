"""Bulk dispatch: ``ductape.jobs.schedule_many(items)``, and the list form of ``ductape-jobs schedule FILE.json``.

Every item is validated before any is sent, so one bad item starts nothing. Then the items are sent
``concurrency`` at a time, and each gets a result of its own: an item the server refuses (or that
fails in any other way when sent) is reported as failed, and the others are sent all the same.

Items are what the CLI's file holds: ``processor.job.schedule`` inputs, or ``<namespace>.dispatch``
inputs with ``"dispatch": "<namespace>"`` beside their fields (the CLI adds seed 004's builder calls,
``ductape_jobs.cli.schedule_file``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from ductape_jobs.planning.event_inference import config_definition
from ductape_jobs.planning.inputs import DISPATCH_NAMESPACES
from ductape_jobs.planning.plan import JobPlanner
from ductape_jobs.workflows.contracts.dispatch import IDispatchResult
from ductape_jobs.workflows.contracts.job import JobEventType, JobInputError

DEFAULT_CONCURRENCY = 16
"""Sends in flight at once: enough to hide a round trip to the server, few enough not to flood it."""

Item = TypeVar("Item")
Sent = TypeVar("Sent")


class Dispatcher(Protocol):
    """What plans and starts one job: the client's submitter (``ductape_jobs.client``)."""

    @property
    def planner(self) -> JobPlanner: ...

    async def submit(self, namespace: str | None, data: object) -> IDispatchResult: ...


@dataclass(frozen=True)
class DispatchItem:
    """One item: ``ductape.<namespace>.dispatch(data)``, or ``processor.job.schedule(data)`` for ``None``."""

    namespace: str | None
    data: Mapping[str, Any]


class BulkProgress(BaseModel):
    """How far a bulk dispatch is: given to ``on_progress`` after every item, sent or failed."""

    model_config = ConfigDict(frozen=True)

    done: int
    total: int
    failed: int


class BulkItemResult(BaseModel):
    """One item's outcome, at its index in the input: its DispatchResult, or why it failed."""

    index: int
    ok: bool
    result: IDispatchResult | None = None
    error_type: str | None = None
    """The exception's class (``JobInputError``, ``RPCError``...)."""
    error: str | None = None
    """Its message: a ``JobInputError``'s ``field: reason``, the server's refusal... never the input."""


@dataclass(frozen=True)
class ItemFailure:
    """An item that failed when sent; the others went on."""

    error_type: str
    error: str

    @classmethod
    def of(cls, err: Exception) -> ItemFailure:
        # The class and message only: a traceback or the exception's arguments could carry the input.
        return cls(type(err).__name__, str(err) or type(err).__name__)


def dispatch_item(item: object) -> DispatchItem:
    """The item as a call: its ``dispatch`` namespace taken out of its fields.

    Raises:
        JobInputError: not an object (field ``""``), or an unknown namespace (``dispatch``).
    """
    if not isinstance(item, Mapping):
        raise JobInputError.one("", "each job must be a JSON object")
    rest = dict(item)
    namespace = rest.pop("dispatch", None)
    if namespace is not None and namespace not in DISPATCH_NAMESPACES:
        raise JobInputError.one("dispatch", f"unknown namespace {namespace!r}")
    return DispatchItem(namespace, rest)


def check_dispatch_item(planner: JobPlanner, item: DispatchItem) -> None:
    """Plan the item offline, as sending it would. A ``type: job`` item whose definition is not in the
    planner's config is only checked for its shape: its definition may exist on the server, read when
    it is sent (a missing one then fails that item alone).

    Raises:
        JobInputError: the item is invalid (its field not prefixed).
    """
    job = planner.normalise(item.namespace, item.data)
    if job.event_type is JobEventType.JOB and config_definition(planner.config, job.product, job.event) is None:
        return
    planner.plan_normalised(job)


def at_index(err: JobInputError, index: int) -> JobInputError:
    """``err`` with each field prefixed by the item's index: ``[3].retries``."""
    return JobInputError([(f"[{index}].{field}" if field else f"[{index}]", reason) for field, reason in err.problems])


def check_concurrency(concurrency: object) -> int:
    """``concurrency`` as a count of sends in flight.

    Raises:
        ValueError: not a whole number of at least 1.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a whole number of at least 1, not {concurrency!r}")
    return concurrency


async def send_all(
    items: Sequence[Item],
    send: Callable[[Item], Awaitable[Sent]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: Callable[[BulkProgress], None] | None = None,
) -> list[Sent | ItemFailure]:
    """``send`` every item, at most ``concurrency`` at once; each item's outcome at its index.

    An exception of one ``send`` is that item's ``ItemFailure``: the others are sent all the same.

    Raises:
        ValueError: ``concurrency`` is not a whole number of at least 1 (nothing was sent).
        Exception: whatever ``on_progress`` raises (a caller's bug): the sends in flight are cancelled
            and the items not yet sent are not sent.
    """
    limit = check_concurrency(concurrency)
    outcomes: dict[int, Sent | ItemFailure] = {}
    progress = BulkProgress(done=0, total=len(items), failed=0)
    # One shared iterator for a fixed pool of senders: each index is taken exactly once, and only
    # ``limit`` coroutines exist however many items there are (not one task per item).
    pending = iter(enumerate(items))

    async def sender() -> None:
        nonlocal progress
        for index, item in pending:
            try:
                outcomes[index] = await send(item)
                failed = 0
            except Exception as err:  # any failure, a bug's too, is this item's alone: the others go on
                outcomes[index] = ItemFailure.of(err)
                failed = 1
            progress = BulkProgress(done=progress.done + 1, total=progress.total, failed=progress.failed + failed)
            if on_progress is not None:
                on_progress(progress)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(limit, len(items))):
                group.create_task(sender())
    except ExceptionGroup as group_err:  # only ``on_progress`` can raise out of a sender: raise it as it was
        raise group_err.exceptions[0] from None
    return [outcomes[index] for index in range(len(items))]


async def schedule_many(
    dispatcher: Dispatcher,
    items: Sequence[Mapping[str, Any]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: Callable[[BulkProgress], None] | None = None,
) -> list[BulkItemResult]:
    """Validate every item, then schedule them ``concurrency`` at a time; one result per item, in order.

    Raises:
        JobInputError: an invalid item (every one found, fields named ``[index].field``); nothing was sent.
        ValueError: ``concurrency`` is not a whole number of at least 1; nothing was sent.
        Exception: whatever ``on_progress`` raises (a caller's bug): the sends in flight are cancelled
            and the items not yet sent are not sent.
    """
    check_concurrency(concurrency)
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise JobInputError.one("", "items must be a list of job inputs")
    calls = validated(dispatcher.planner, items)

    async def send(item: DispatchItem) -> IDispatchResult:
        return await dispatcher.submit(item.namespace, item.data)

    outcomes = await send_all(calls, send, concurrency=concurrency, on_progress=on_progress)
    return [item_result(index, outcome) for index, outcome in enumerate(outcomes)]


def validated(planner: JobPlanner, items: Sequence[object]) -> list[DispatchItem]:
    """Every item as a call, each checked as ``check_dispatch_item`` does.

    Raises:
        JobInputError: the problems of every invalid item, each field prefixed ``[index].``.
    """
    calls: list[DispatchItem] = []

    def check(item: object) -> None:
        calls.append(dispatch_item(item))
        check_dispatch_item(planner, calls[-1])

    check_each(items, check)
    return calls


def check_each(items: Sequence[Item], check: Callable[[Item], None]) -> None:
    """``check`` every item, collecting their ``JobInputError``s: a file of 300 jobs with three
    mistakes is refused naming all three, not one per attempt.

    Raises:
        JobInputError: the problems of every item ``check`` refused, each field prefixed ``[index].``.
    """
    problems: list[tuple[str, str]] = []
    for index, item in enumerate(items):
        try:
            check(item)
        except JobInputError as err:
            problems.extend(at_index(err, index).problems)
    if problems:
        raise JobInputError(problems)


def item_result(index: int, outcome: IDispatchResult | ItemFailure) -> BulkItemResult:
    """The public result of item ``index``."""
    if isinstance(outcome, ItemFailure):
        return BulkItemResult(index=index, ok=False, error_type=outcome.error_type, error=outcome.error)
    return BulkItemResult(index=index, ok=True, result=outcome)


class BulkScheduling:
    """``schedule_many`` of ``ductape.jobs`` (``Jobs`` derives from it): it sends through the client's
    dispatcher, which ``Ductape`` sets; a ``Jobs`` built on a bare Temporal client has none."""

    dispatcher: Dispatcher | None = None

    async def schedule_many(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_progress: Callable[[BulkProgress], None] | None = None,
    ) -> list[BulkItemResult]:
        """Schedule every item (``processor.job.schedule`` inputs, or dispatch inputs with ``"dispatch":
        "<namespace>"``), all validated first, then sent ``concurrency`` at a time. Returns one
        ``BulkItemResult`` per item, in order: an item that fails when sent (the server refuses it, a
        ``type: job`` item's definition does not exist...) is reported ``ok=False`` with its error, and
        the others are sent all the same. ``on_progress`` gets a ``BulkProgress`` after every item.

        Raises:
            JobInputError: an invalid item, its fields named ``[index].field``; nothing was scheduled.
            ValueError: ``concurrency`` is not a whole number of at least 1; nothing was scheduled.
            RuntimeError: these ``Jobs`` have no dispatcher (use ``Ductape(...).jobs``).
            Exception: whatever ``on_progress`` raises (a caller's bug): the sends in flight are
                cancelled and the items not yet sent are not sent.
        """
        if self.dispatcher is None:
            raise RuntimeError("schedule_many needs the jobs of a Ductape client (ductape.jobs)")
        return await schedule_many(self.dispatcher, items, concurrency=concurrency, on_progress=on_progress)
