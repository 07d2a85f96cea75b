"""The storage activity: upload, download, delete and list files of a product's storage tag."""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import activity

from ductape_jobs.activities.config.product_config import ProductConfig
from ductape_jobs.activities.config.secrets import SecretMissingError, SecretStore
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.activities.storage.backends import LocalBackend, S3Backend, StorageBackend, refused
from ductape_jobs.activities.storage.checks import storage_target
from ductape_jobs.activities.storage.config import LocalStorageEnv, StorageConfigError, StorageTarget
from ductape_jobs.activities.storage.paths import PathRefused, clean_key, join_key, relative_to
from ductape_jobs.workflows.contracts.job import EventActivityInput
from ductape_jobs.workflows.contracts.storage import (
    RUN_STORAGE,
    IStorageFileRef,
    IStorageList,
    IStorageUpload,
    StorageDeleteResult,
    StorageDownloadResult,
    StorageEntry,
    StorageListResult,
    StorageUploadResult,
)

M = TypeVar("M", bound=BaseModel)

_DATA_URL = re.compile(r"^data:([^;,]*)(?:;[^,]*)?;base64,", re.IGNORECASE)


class StorageActivities:
    """Storage jobs; one backend per (product, env, storage tag), made at first use and kept."""

    def __init__(self, config: ProductConfig, secrets: SecretStore) -> None:
        self._config = config
        self._secrets = secrets
        self._backends: dict[tuple[str, str, str], StorageBackend] = {}

    @activity.defn(name=RUN_STORAGE)
    async def run_storage(self, request: EventActivityInput) -> BaseModel:
        """Run the job's storage operation.

        Raises:
            ApplicationError: typed by cause (see ``ductape_jobs.activities.errors``). A path that could leave the
                storage root, invalid base64 or a malformed input is INVALID_INPUT and a missing file
                NOT_FOUND (neither retried); CONNECTION_ERROR and TIMEOUT are retried.
        """
        try:
            return await self._run(request)
        except JobFailure as err:
            raise err.to_application_error(request.job.errors) from None

    async def _run(self, request: EventActivityInput) -> BaseModel:
        job = request.job
        if job.app is None:
            raise JobFailure("CONFIG_ERROR", f"storage job {job.event!r} names no storage tag")
        try:
            target = storage_target(self._config, job.product, job.env, job.app, job.event)
        except StorageConfigError as err:
            raise JobFailure("CONFIG_ERROR", str(err)) from None
        backend = self._backend((job.product, job.env, job.app), target)
        activity.logger.info("storage %s on %s for job %s", target.operation, job.app, job.job_id)
        try:
            if target.operation == "upload":
                return await _upload(backend, target, _parse(IStorageUpload, request.input))
            if target.operation == "download":
                return await _download(backend, target, _parse(IStorageFileRef, request.input))
            if target.operation == "delete":
                return await _delete(backend, target, _parse(IStorageFileRef, request.input))
            return await _list(backend, target, _parse(IStorageList, request.input))
        except PathRefused as err:
            raise refused(err) from None
        except SecretMissingError as err:
            raise JobFailure("SECRET_MISSING", str(err)) from None

    async def aclose(self) -> None:
        """Close the S3 clients made so far (``open_activities`` calls it when the worker stops)."""
        backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            if isinstance(backend, S3Backend):
                await backend.aclose()

    def _backend(self, key: tuple[str, str, str], target: StorageTarget) -> StorageBackend:
        backend = self._backends.get(key)
        if backend is None:
            env = target.env
            backend = LocalBackend(env) if isinstance(env, LocalStorageEnv) else S3Backend(env, self._secrets)
            self._backends[key] = backend
        return backend


def _parse(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in err.errors(include_url=False)
        )
        raise JobFailure("INVALID_INPUT", f"storage input: {problems}") from None


def decode_content(upload: IStorageUpload) -> tuple[bytes, str | None]:
    """The bytes to store, and the content type a ``data:`` URL carried.

    Raises:
        JobFailure: INVALID_INPUT when neither or both of ``buffer`` and ``text`` are given, or
            ``buffer`` is not valid base64.
    """
    if (upload.buffer is None) == (upload.text is None):
        raise JobFailure("INVALID_INPUT", "upload needs exactly one of `buffer` (base64) or `text`")
    if upload.text is not None:
        return upload.text.encode("utf-8"), None
    assert upload.buffer is not None
    encoded = upload.buffer
    data_url = _DATA_URL.match(encoded)
    if data_url:
        encoded = encoded[data_url.end() :]
    try:
        # Whitespace is tolerated (wrapped base64); any other stray character is an error.
        data = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        raise JobFailure("INVALID_INPUT", "`buffer` is not valid base64") from None
    return data, (data_url.group(1) or None) if data_url else None


def _file_key(target: StorageTarget, folder: str, file_name: str) -> str:
    """The file's key below the root, and refusal of a reference that names no file."""
    key = join_key(target.path_prefix, folder, file_name)
    if key == target.path_prefix:
        raise JobFailure("INVALID_INPUT", "the input names no file: set `fileName` or `path`")
    return key


async def _upload(backend: StorageBackend, target: StorageTarget, upload: IStorageUpload) -> StorageUploadResult:
    if not clean_key(upload.file_name):
        raise JobFailure("INVALID_INPUT", f"`fileName` {upload.file_name!r} names no file")
    data, data_url_type = decode_content(upload)
    key = _file_key(target, upload.path, upload.file_name)
    mime_type = upload.mime_type or data_url_type or mimetypes.guess_type(key)[0]
    if mime_type is None:
        mime_type = "text/plain; charset=utf-8" if upload.text is not None else "application/octet-stream"
    # Uploads overwrite: a retried attempt after a lost reply must not fail on its own earlier write.
    await backend.write(key, data, mime_type)
    return StorageUploadResult(path=relative_to(target.path_prefix, key), size=len(data), mime_type=mime_type)


async def _download(backend: StorageBackend, target: StorageTarget, ref: IStorageFileRef) -> StorageDownloadResult:
    key = _file_key(target, ref.path, ref.file_name)
    data, mime_type = await backend.read(key, target.max_download_bytes)
    return StorageDownloadResult(
        path=relative_to(target.path_prefix, key),
        buffer=base64.b64encode(data).decode("ascii"),
        size=len(data),
        mime_type=mime_type,
    )


async def _delete(backend: StorageBackend, target: StorageTarget, ref: IStorageFileRef) -> StorageDeleteResult:
    key = _file_key(target, ref.path, ref.file_name)
    await backend.remove(key)
    return StorageDeleteResult(path=relative_to(target.path_prefix, key))


async def _list(backend: StorageBackend, target: StorageTarget, listing: IStorageList) -> StorageListResult:
    folder = join_key(target.path_prefix, listing.prefix)
    entries, truncated = await backend.listing(folder, recursive=listing.recursive, limit=listing.limit)
    return StorageListResult(
        prefix=relative_to(target.path_prefix, folder) if folder != target.path_prefix else "",
        entries=[
            StorageEntry(
                name=e.key.rpartition("/")[2], path=relative_to(target.path_prefix, e.key), size=e.size, type=e.type
            )
            for e in entries
        ],
        truncated=truncated,
    )
