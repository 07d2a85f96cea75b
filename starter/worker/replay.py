"""Replaying recorded histories against the current workflow code: the check to run before a deploy.

``ductape-jobs replay FILE...`` or ``--query "..."`` report every history the current code would
replay differently (non-determinism), with its workflow ID; ``assert_histories_replay`` does the same
inside a user's own pytest suite.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from ductape_jobs.codec.converter import DATA_CONVERTER
from ductape_jobs.codec.encryption import Keyring, encrypted_converter
from ductape_jobs.worker.job_worker import WORKFLOWS
from ductape_jobs.worker.workflow_runner import WORKFLOW_RUNNER


@dataclass(frozen=True)
class ReplayReport:
    workflow_id: str
    source: str
    error: str | None
    """None when the history replays; otherwise why not (a NondeterminismError names the event)."""


def converter_for(keyring: Keyring | None, *, accept_plaintext: bool = False) -> DataConverter:
    """The converter histories written with ``keyring`` replay with (unencrypted payloads refused
    unless ``accept_plaintext``)."""
    return DATA_CONVERTER if keyring is None else encrypted_converter(keyring, accept_plaintext=accept_plaintext)


async def replay_files(paths: Iterable[Path], *, data_converter: DataConverter) -> list[ReplayReport]:
    """Replay JSON histories (``temporal workflow show -w ID -o json`` or the Web UI's download).

    The file name without ``.json`` is taken as the workflow ID (job workflows derive their event
    deliveries' IDs from it), so save each history as ``<workflow id>.json``.
    """
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter, workflow_runner=WORKFLOW_RUNNER)
    reports = []
    for path, text in _read(paths):
        history = WorkflowHistory.from_json(path.stem, text)
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failure = result.replay_failure
        reports.append(
            ReplayReport(path.stem, str(path), None if failure is None else f"{type(failure).__name__}: {failure}")
        )
    return reports


async def replay_query(client: Client, query: str, *, limit: int = 1000) -> list[ReplayReport]:
    """Replay the histories of the workflows a visibility query finds (e.g. ``WorkflowType = "JobWorkflow"``)."""
    replayer = Replayer(workflows=WORKFLOWS, data_converter=client.data_converter, workflow_runner=WORKFLOW_RUNNER)
    reports = []
    async for execution in client.list_workflows(query, limit=limit):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failure = result.replay_failure
        reports.append(
            ReplayReport(
                execution.id,
                f"run {execution.run_id}",
                None if failure is None else f"{type(failure).__name__}: {failure}",
            )
        )
    return reports


async def assert_histories_replay(
    directory: str | Path, *, keyring: Keyring | None = None, accept_plaintext: bool = False
) -> int:
    """For users' test suites: every ``*.json`` history in ``directory`` replays on the current code
    (with ``keyring``, histories holding unencrypted payloads need ``accept_plaintext``).

    Returns how many replayed. Raises: AssertionError listing each history that does not.
    """
    reports = await replay_files(
        _histories_in(Path(directory)), data_converter=converter_for(keyring, accept_plaintext=accept_plaintext)
    )
    failures = [f"{r.workflow_id} ({r.source}): {r.error}" for r in reports if r.error]
    assert not failures, "histories that no longer replay:\n" + "\n".join(failures)
    return len(reports)


def _read(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    return [(path, path.read_text(encoding="utf-8")) for path in paths]


def _histories_in(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json"))
