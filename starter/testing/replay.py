"""Replaying a user's exported job histories in their test suite: the deploy check, as a test.

This is the project's replayer (``ductape_jobs.worker.replay``, behind ``ductape-jobs replay``), with
the worker's own workflow list and data converter; what it adds is a per-file error that names the
file, and saving a history recorded in a test as a replayable file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

from ductape_jobs.codec.encryption import Keyring
from ductape_jobs.worker.replay import ReplayReport, converter_for, replay_files


class HistoryReplayError(AssertionError):
    """Histories that the current workflow code does not replay (non-determinism), or cannot read.

    ``failures`` holds one report per such file; the message names each file and why.
    """

    def __init__(self, failures: list[ReplayReport]) -> None:
        self.failures = failures
        lines = [f"{r.source} (workflow {r.workflow_id}): {r.error}" for r in failures]
        super().__init__(f"{len(failures)} history file(s) do not replay on the current code:\n" + "\n".join(lines))


async def replay_histories(
    paths: str | Path | Iterable[str | Path], *, keyring: Keyring | None = None, accept_plaintext: bool = False
) -> int:
    """Replay JSON histories (``temporal workflow show -w ID -o json``, the Web UI's download, or
    ``save_history``) on the current workflow code. ``paths``: files, or folders whose ``*.json`` are
    replayed. Each file must be named ``<workflow id>.json``: a job derives its children's IDs from its
    own. ``keyring``: the payload keys the histories were written with (None: unencrypted).

    Returns how many replayed.

    Raises:
        HistoryReplayError: a history does not replay, or is not a readable history; naming each file.
        FileNotFoundError: a path does not exist, or no history was found.
    """
    files = _files(paths)
    converter = converter_for(keyring, accept_plaintext=accept_plaintext)
    failures: list[ReplayReport] = []
    for path in files:
        try:
            [report] = await replay_files([path], data_converter=converter)
        except (OSError, ValueError, KeyError, TypeError) as err:  # not JSON, or not a history
            report = ReplayReport(path.stem, str(path), f"cannot read the history: {type(err).__name__}: {err}")
        if report.error is not None:
            failures.append(report)
    if failures:
        raise HistoryReplayError(failures)
    return len(files)


async def save_history(handle: WorkflowHandle[Any, Any], directory: str | Path) -> Path:
    """Write the workflow's history to ``directory/<workflow id>.json``, as ``replay_histories`` reads it.

    Raises:
        temporalio.service.RPCError: the workflow does not exist, or the server failed.
        OSError: the file cannot be written.
    """
    history = await handle.fetch_history()
    return _write(Path(directory) / f"{handle.id}.json", history.to_json())


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    given = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    files: list[Path] = []
    for path in given:
        if path.is_dir():
            files += sorted(path.glob("*.json"))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no history file or folder at {path}")
    if not files:
        raise FileNotFoundError(f"no *.json history in {', '.join(map(str, given))}")
    return files
