"""The last step of a process that used the Temporal SDK, before the interpreter shuts down."""

from __future__ import annotations

import gc

import temporalio.runtime


def release_temporal_runtime() -> None:
    """Drop the Temporal SDK's default runtime, and with it its native threads, while the interpreter is
    still whole: left to interpreter shutdown, one of them can still touch the GIL and abort the
    process, turning success into rc 134 (temporalio/sdk-python#300; about one ``schedule`` in three
    here). The SDK has no public call for it; temporalio is pinned exactly (pyproject.toml)."""
    ref = getattr(temporalio.runtime, "_runtime_ref", None)
    if ref is not None:
        ref._default_runtime = None
    gc.collect()
