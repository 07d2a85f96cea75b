"""Inputs and results of ``storage`` jobs (``ductape.storage.dispatch``): upload, download, delete, list.

Imports only pydantic and the standard library, so workflows and clients can load it anywhere.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

StorageOperation = Literal["upload", "download", "delete", "list"]
STORAGE_OPERATIONS: tuple[StorageOperation, ...] = ("upload", "download", "delete", "list")


RUN_STORAGE = "ductape.run_storage"
"""The activity that runs a ``storage`` job."""


class _StorageInput(BaseModel):
    """Strict about unknown keys (a misspelt ``filename`` must not silently upload elsewhere)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class IStorageUpload(_StorageInput):
    """Input of ``upload``: the content (``buffer`` in base64 or ``text``) and where it goes."""

    file_name: str = Field(min_length=1, validation_alias=AliasChoices("fileName", "file_name"))
    """Name of the file; may contain ``/`` to name sub-folders."""
    buffer: str | None = None
    """The content in base64 (standard alphabet; a ``data:<mime>;base64,`` prefix is accepted)."""
    text: str | None = None
    """The content as text, stored UTF-8 encoded."""
    mime_type: str | None = Field(None, validation_alias=AliasChoices("mimeType", "mime_type"))
    """Content type; guessed from the file name when absent."""
    path: str = Field("", validation_alias=AliasChoices("path", "folder"))
    """Folder below the storage root (and the action's ``path_prefix``) the file goes to."""


class IStorageFileRef(_StorageInput):
    """Input of ``download`` and ``delete``: ``path`` (folder or full path) and/or ``fileName``."""

    path: str = Field("", validation_alias=AliasChoices("path", "folder"))
    file_name: str = Field("", validation_alias=AliasChoices("fileName", "file_name"))


class IStorageList(_StorageInput):
    """Input of ``list``: the folder to list."""

    prefix: str = Field("", validation_alias=AliasChoices("prefix", "path", "folder"))
    """Folder below the storage root (and the action's ``path_prefix``); empty lists the root."""
    recursive: bool = False
    """List every file below the folder instead of its direct entries."""
    limit: int = Field(1000, ge=1, le=10_000)
    """At most this many entries are returned (``truncated`` says when more exist)."""


class StorageUploadResult(BaseModel):
    """What ``upload`` returns."""

    path: str
    """Path of the stored file, relative to the storage root plus the action's ``path_prefix``."""
    size: int
    mime_type: str


class StorageDownloadResult(BaseModel):
    """What ``download`` returns."""

    path: str
    buffer: str
    """The content in base64."""
    size: int
    mime_type: str | None = None
    """Stored content type (S3), else guessed from the file name; None when unknown."""


class StorageDeleteResult(BaseModel):
    """What ``delete`` returns."""

    path: str
    deleted: bool = True


class StorageEntry(BaseModel):
    """One entry of a listing."""

    name: str
    """The entry's own name (last path segment)."""
    path: str
    """Relative path, usable as ``path`` of a download or delete."""
    size: int
    type: Literal["file", "directory"]


class StorageListResult(BaseModel):
    """What ``list`` returns."""

    prefix: str
    entries: list[StorageEntry] = Field(default_factory=list)
    truncated: bool = False
