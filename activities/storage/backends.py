"""Where storage jobs keep files: a local directory or an S3 bucket, both through fsspec.

Keys are cleaned relative paths (``ductape_jobs.activities.storage.paths``). Every failure is a ``JobFailure``:
a missing file is NOT_FOUND, a path outside the root INVALID_INPUT (never retried), a network
failure CONNECTION_ERROR or TIMEOUT (retried).
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import aiohttp
from fsspec.implementations.local import LocalFileSystem  # type: ignore[import-untyped]

from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.errors import JobFailure, error_type_for_status
from ductape_jobs.activities.storage.config import LocalStorageEnv, S3StorageEnv
from ductape_jobs.activities.storage.paths import PathRefused, is_within, join_key, local_path

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One listed entry; ``key`` is relative to the storage root (or the bucket's prefix)."""

    key: str
    size: int
    type: Literal["file", "directory"]


class StorageBackend(Protocol):
    """The four operations a storage job runs, on keys relative to the backend's root."""

    async def write(self, key: str, data: bytes, mime_type: str) -> None: ...
    async def read(self, key: str, max_bytes: int) -> tuple[bytes, str | None]: ...
    async def remove(self, key: str) -> None: ...
    async def listing(self, folder: str, *, recursive: bool, limit: int) -> tuple[list[Entry], bool]: ...


def refused(err: PathRefused) -> JobFailure:
    """The non-retryable failure of a path that could leave the storage root."""
    return JobFailure("INVALID_INPUT", str(err))


def _too_large(key: str, size: int, max_bytes: int) -> JobFailure:
    return JobFailure(
        "TOO_LARGE",
        f"{key!r} is {size} bytes; downloads are limited to {max_bytes} bytes (storage `max_download_bytes`)",
    )


def _parent(key: str) -> tuple[str, str]:
    parent, _, name = key.rpartition("/")
    return parent, name


class LocalBackend:
    """A directory of the worker's host; blocking calls run in a thread, never on the event loop."""

    def __init__(self, env: LocalStorageEnv) -> None:
        self._root = env.root
        self._fs = LocalFileSystem(auto_mkdir=True)

    async def write(self, key: str, data: bytes, mime_type: str) -> None:
        await self._run(key, lambda: self._write(key, data))

    async def read(self, key: str, max_bytes: int) -> tuple[bytes, str | None]:
        return await self._run(key, lambda: self._read(key, max_bytes))

    async def remove(self, key: str) -> None:
        await self._run(key, lambda: self._remove(key))

    async def listing(self, folder: str, *, recursive: bool, limit: int) -> tuple[list[Entry], bool]:
        return await self._run(folder, lambda: self._listing(folder, recursive, limit))

    async def _run(self, key: str, call: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(call)
        except PathRefused as err:
            raise refused(err) from None
        except FileNotFoundError:
            raise JobFailure("NOT_FOUND", f"{key!r} does not exist in the storage") from None
        except (NotADirectoryError, FileExistsError, IsADirectoryError):
            raise JobFailure("INVALID_INPUT", f"{key!r} crosses or names an existing entry of another kind") from None
        except PermissionError:
            raise JobFailure("FORBIDDEN", f"the worker may not access {key!r}") from None
        except OSError as err:
            raise JobFailure("SERVER_ERROR", f"{key!r}: {err.strerror or type(err).__name__}") from None

    def _path(self, key: str) -> str:
        real_root = os.path.realpath(self._root)
        if not os.path.isdir(real_root):
            raise JobFailure("CONFIG_ERROR", f"storage root {self._root} is not an existing directory")
        return local_path(self._root, key)

    def _write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if os.path.isdir(path):
            raise JobFailure("INVALID_INPUT", f"{key!r} is a folder")
        self._fs.pipe_file(path, data)

    def _read(self, key: str, max_bytes: int) -> tuple[bytes, str | None]:
        path = self._path(key)
        info = self._fs.info(path)
        if info["type"] != "file":
            raise JobFailure("INVALID_INPUT", f"{key!r} is not a file")
        if info["size"] > max_bytes:
            raise _too_large(key, info["size"], max_bytes)
        data: bytes = self._fs.cat_file(path)
        return data, mimetypes.guess_type(key)[0]

    def _remove(self, key: str) -> None:
        self._path(key)  # refuses a link that leads outside, like every other operation
        parent, name = _parent(key)
        # The name itself is removed, not what it points to: deleting a link deletes the link.
        lexical = os.path.join(self._path(parent), name)
        if not os.path.lexists(lexical):
            raise FileNotFoundError(lexical)
        if os.path.isdir(lexical) and not os.path.islink(lexical):
            raise JobFailure("INVALID_INPUT", f"{key!r} is a folder; only files are deleted")
        self._fs.rm_file(lexical)

    def _listing(self, folder: str, recursive: bool, limit: int) -> tuple[list[Entry], bool]:
        path = self._path(folder)
        if not os.path.exists(path):
            return [], False
        if not os.path.isdir(path):
            raise JobFailure("INVALID_INPUT", f"{folder!r} is a file, not a folder")
        real_root = os.path.realpath(self._root)
        entries: list[Entry] = []
        # os.walk does not follow links to folders, so a link to elsewhere is never descended.
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            rel = os.path.relpath(dirpath, path)
            base = join_key(folder, "" if rel == "." else rel.replace(os.sep, "/"))
            names = sorted(filenames) if recursive else sorted(dirnames + filenames)
            for name in names:
                entry = self._entry(real_root, os.path.join(dirpath, name), join_key(base, name))
                if entry is not None:
                    entries.append(entry)
                if len(entries) > limit:
                    return entries[:limit], True
            if not recursive:
                break
        return entries, False

    @staticmethod
    def _entry(real_root: str, path: str, key: str) -> Entry | None:
        real = os.path.realpath(path)
        if not is_within(real_root, real) or not os.path.exists(real):
            return None  # a link out of the root (or a dangling one) is not shown: nothing is learnt about it
        if os.path.isdir(real):
            return Entry(key, 0, "directory")
        return Entry(key, os.path.getsize(real), "file")


class S3Backend:
    """A bucket (below ``prefix``) through s3fs's async API; one client per worker and storage env."""

    def __init__(self, env: S3StorageEnv, secrets: SecretStore) -> None:
        self._env = env
        self._secrets = secrets
        self._base = "/".join(p for p in (env.bucket, env.prefix) if p)
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def _s3(self) -> Any:
        async with self._lock:
            if self._client is None:
                # The `s3` extra, imported on use: a worker storing on local disks needs none of it.
                from s3fs import S3FileSystem  # type: ignore[import-untyped]

                env = self._env
                timeout = env.timeout_ms / 1000
                client = S3FileSystem(
                    key=self._secrets.resolve(env.access_key_id),
                    secret=self._secrets.resolve(env.secret_access_key),
                    endpoint_url=env.endpoint_url,
                    client_kwargs={"region_name": env.region} if env.region else {},
                    config_kwargs={
                        "connect_timeout": timeout,
                        "read_timeout": timeout,
                        "retries": {"max_attempts": 2, "mode": "standard"},
                    },
                    asynchronous=True,
                    skip_instance_cache=True,
                    # Other writers change the bucket: a cached listing would go stale.
                    use_listings_cache=False,
                )
                client.retries = 2  # s3fs's own retry loop; the job's retry policy does the rest
                await client.set_session()
                self._client = client
            return self._client

    async def aclose(self) -> None:
        """Close the client's connection pool (the worker's shutdown would call it)."""
        async with self._lock:
            if self._client is not None:
                await self._client._s3.close()
                self._client = None

    def _path(self, key: str) -> str:
        if "?versionId=" in key:  # s3fs would read it as a version, not as part of the key
            raise JobFailure("INVALID_INPUT", f"path {key!r} cannot contain '?versionId='")
        return f"{self._base}/{key}" if key else self._base

    def _key(self, name: str) -> str:
        return name[len(self._base) + 1 :] if name.startswith(self._base + "/") else ""

    async def write(self, key: str, data: bytes, mime_type: str) -> None:
        s3 = await self._s3()
        await _s3_call(key, lambda: s3._pipe_file(self._path(key), data, ContentType=mime_type))

    async def _file_info(self, key: str) -> dict[str, Any]:
        s3 = await self._s3()
        info: dict[str, Any] = await _s3_call(key, lambda: s3._info(self._path(key)))
        if info.get("type") != "file":
            raise JobFailure("INVALID_INPUT", f"{key!r} is a folder, not a file")
        return info

    async def read(self, key: str, max_bytes: int) -> tuple[bytes, str | None]:
        info = await self._file_info(key)
        size = int(info.get("size") or 0)
        if size > max_bytes:
            raise _too_large(key, size, max_bytes)
        s3 = await self._s3()
        data: bytes = await _s3_call(key, lambda: s3._cat_file(self._path(key)))
        return data, info.get("ContentType") or mimetypes.guess_type(key)[0]

    async def remove(self, key: str) -> None:
        await self._file_info(key)  # S3 deletes a missing key silently; the job reports NOT_FOUND
        s3 = await self._s3()
        await _s3_call(key, lambda: s3._rm_file(self._path(key)))

    async def listing(self, folder: str, *, recursive: bool, limit: int) -> tuple[list[Entry], bool]:
        s3 = await self._s3()
        path = self._path(folder)
        try:
            if recursive:
                found: dict[str, Any] = await _s3_call(folder, lambda: s3._find(path, detail=True))
                infos = list(found.values())
            else:
                infos = await _s3_call(folder, lambda: s3._ls(path, detail=True))
        except JobFailure as err:
            if err.kind == "NOT_FOUND":  # S3 has no folders: an empty prefix is just empty
                return [], False
            raise
        entries = []
        for info in sorted(infos, key=lambda i: str(i["name"])):
            name = str(info["name"]).rstrip("/")
            if not name.startswith(path + "/"):
                continue  # the folder's own marker, or the file a folder path happened to name
            kind: Literal["file", "directory"] = "directory" if info.get("type") == "directory" else "file"
            entries.append(Entry(self._key(name), int(info.get("size") or 0), kind))
        return entries[:limit], len(entries) > limit


async def _s3_call(key: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run one s3fs call, turning its exceptions into typed job failures."""
    import botocore.exceptions as boto  # type: ignore[import-untyped]  # installed with s3fs

    try:
        return await call()
    except FileNotFoundError:
        raise JobFailure("NOT_FOUND", f"{key!r} does not exist in the storage") from None
    except PermissionError:
        raise JobFailure("FORBIDDEN", f"access to {key!r} was denied by the storage") from None
    except (boto.NoCredentialsError, boto.PartialCredentialsError) as err:
        raise JobFailure("CONFIG_ERROR", f"storage credentials: {type(err).__name__}") from None
    except (boto.ReadTimeoutError, boto.ConnectTimeoutError, TimeoutError) as err:
        raise JobFailure("TIMEOUT", f"storage request for {key!r} timed out ({type(err).__name__})") from None
    except (boto.ConnectionError, boto.HTTPClientError, aiohttp.ClientConnectionError, ConnectionError) as err:
        raise JobFailure("CONNECTION_ERROR", f"cannot reach the storage: {type(err).__name__}") from None
    except boto.ClientError as err:
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500)
        code = err.response.get("Error", {}).get("Code", "")
        raise JobFailure(error_type_for_status(status), f"storage returned {status} {code} for {key!r}") from None
    except OSError as err:
        raise JobFailure("SERVER_ERROR", f"storage error for {key!r}: {err}") from None
