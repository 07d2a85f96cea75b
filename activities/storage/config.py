"""The ``storage`` section of a product: where each storage tag keeps its files, per environment.

```yaml
storage:
  files:
    envs:
      dev: {backend: local, root: /var/lib/shop/files}
      prd: {backend: s3, bucket: shop-files, prefix: uploads, region: eu-west-1,
            access_key_id: $Secret{S3_KEY_ID}, secret_access_key: $Secret{S3_SECRET}}
    actions:
      save_avatar: {operation: upload, path_prefix: avatars}
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from ductape_jobs.activities.storage.paths import PathRefused, clean_key
from ductape_jobs.workflows.contracts.storage import STORAGE_OPERATIONS, StorageOperation

DEFAULT_MAX_DOWNLOAD_BYTES = 1024 * 1024
"""A download travels base64-encoded through workflow history, whose payloads Temporal caps at 2 MiB."""


class StorageConfigError(LookupError):
    """The product config does not define what a storage job names; the message says which piece."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _relative_prefix(value: str) -> str:
    try:
        return clean_key(value)
    except PathRefused as err:
        raise ValueError(err.reason) from None


class LocalStorageEnv(_Strict):
    """Files in a directory of the worker's host."""

    backend: Literal["local"] = "local"
    root: str = Field(min_length=1)
    """Absolute path of an existing directory; no path of a job ever resolves outside it."""

    @field_validator("root")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not os.path.isabs(value):
            raise ValueError("must be an absolute path")
        return value


class S3StorageEnv(_Strict):
    """Objects in an S3 (or S3-compatible) bucket."""

    backend: Literal["s3"]
    bucket: str = Field(min_length=1)
    prefix: str = ""
    """Key prefix every path is placed under (``uploads`` puts ``a.txt`` at ``uploads/a.txt``)."""
    endpoint_url: str | None = None
    """For S3-compatible services (MinIO, R2...); AWS when absent."""
    region: str | None = None
    access_key_id: str = Field(min_length=1)
    secret_access_key: str = Field(min_length=1)
    """Write it as ``$Secret{NAME}``: a plain value in the config file is refused."""
    timeout_ms: int = Field(30_000, ge=1)
    """Connect and read timeout of one request."""

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return _relative_prefix(value)

    @field_validator("secret_access_key")
    @classmethod
    def _secret_ref(cls, value: str) -> str:
        if "$Secret{" not in value:
            raise ValueError("must be a $Secret{NAME} reference, not the key itself")
        return value


def _backend_of(value: object) -> object:
    """The ``backend`` of an env; a local directory when the key is absent."""
    if isinstance(value, dict):
        return value.get("backend", "local")
    return getattr(value, "backend", None)


StorageEnv = Annotated[
    Annotated[LocalStorageEnv, Tag("local")] | Annotated[S3StorageEnv, Tag("s3")], Discriminator(_backend_of)
]


class StorageActionDef(_Strict):
    """A named storage event: an operation, confined to a sub-folder."""

    operation: StorageOperation
    path_prefix: str = ""
    """Folder (below the environment's root or prefix) the action's paths are relative to."""

    @field_validator("path_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return _relative_prefix(value)


class StorageDef(_Strict):
    """One storage tag."""

    envs: dict[str, StorageEnv]
    actions: dict[str, StorageActionDef] = Field(default_factory=dict)
    max_download_bytes: int = Field(DEFAULT_MAX_DOWNLOAD_BYTES, ge=1)
    """Largest file a download returns (its base64 must fit in a Temporal payload)."""

    @model_validator(mode="after")
    def _no_shadowing(self) -> StorageDef:
        for name in self.actions:
            if name in STORAGE_OPERATIONS:
                raise ValueError(f"actions.{name}: an action cannot be named like the operation {name!r}")
        return self


@dataclass(frozen=True)
class StorageTarget:
    """What one storage job runs: where, which operation, below which folder."""

    env: LocalStorageEnv | S3StorageEnv
    operation: StorageOperation
    path_prefix: str
    max_download_bytes: int


def resolve_event(storage: StorageDef, event: str) -> tuple[StorageOperation, str] | None:
    """The operation and path prefix of ``event`` (an operation name or an action tag); None if unknown."""
    for operation in STORAGE_OPERATIONS:
        if event == operation:
            return operation, ""
    action = storage.actions.get(event)
    return None if action is None else (action.operation, action.path_prefix)
