"""Storage jobs end to end: the real Temporal dev server, a real worker, local files and a moto S3 server.

Every upload is read back with the storage's own client (the filesystem, boto3), never through the
code under test; every traversal attempt must fail once, non-retryably, and write nothing outside.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto.server import ThreadedMotoServer
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError, JobInputError, JobNotFoundError
from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from tests.conftest import SECRETS
from tests.support.ports import free_port
from tests.support.workers import job_worker

PRODUCT = "shop"
S3_PREFIX = "app"
STORAGE_SECRETS = SECRETS | {"S3_KEY_ID": "testing", "S3_SECRET": "testing"}
BINARY = bytes(range(256)) * 3 + b"\x00\xff\r\n\x1a" + os.urandom(700)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = f"ductape-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


@dataclass
class Storage:
    """Where each env's files really are, to read them back without the code under test."""

    root: Path
    outside: Path
    bucket: str
    s3: Any

    def read(self, env: str, key: str) -> bytes:
        if env == "dev":
            return (self.root / key).read_bytes()
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=f"{S3_PREFIX}/{key}")["Body"].read()
        return body

    def exists(self, env: str, key: str) -> bool:
        if env == "dev":
            return (self.root / key).exists()
        found = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"{S3_PREFIX}/{key}").get("Contents", [])
        return any(item["Key"] == f"{S3_PREFIX}/{key}" for item in found)

    def all_s3_keys(self) -> list[str]:
        return [item["Key"] for item in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])]


def storage_config(root: Path, bucket: str, endpoint: str) -> ProductConfig:
    return parse_product_config(
        {
            "products": {
                PRODUCT: {
                    "envs": ["dev", "prd", "stg"],
                    "secrets": ["S3_KEY_ID", "S3_SECRET"],
                    "storage": {
                        "files": {
                            "envs": {
                                "dev": {"backend": "local", "root": str(root)},
                                "prd": {
                                    "backend": "s3",
                                    "bucket": bucket,
                                    "prefix": S3_PREFIX,
                                    "endpoint_url": endpoint,
                                    "region": "us-east-1",
                                    "access_key_id": "$Secret{S3_KEY_ID}",
                                    "secret_access_key": "$Secret{S3_SECRET}",
                                },
                                "stg": {
                                    "backend": "s3",
                                    "bucket": bucket,
                                    "endpoint_url": f"http://127.0.0.1:{free_port()}",  # nothing listens
                                    "access_key_id": "$Secret{S3_KEY_ID}",
                                    "secret_access_key": "$Secret{S3_SECRET}",
                                    "timeout_ms": 2000,
                                },
                            },
                            "actions": {"save_avatar": {"operation": "upload", "path_prefix": "avatars"}},
                        }
                    },
                }
            }
        }
    )


@pytest.fixture
def storage(tmp_path: Path, bucket: str, s3: Any) -> Storage:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"do not touch")
    return Storage(root=root, outside=outside, bucket=bucket, s3=s3)


@pytest.fixture
async def ductape(
    dev_env: WorkflowEnvironment, storage: Storage, moto_endpoint: str, task_queue: str
) -> AsyncIterator[Ductape]:
    config = storage_config(storage.root, storage.bucket, moto_endpoint)
    secrets = SecretStore(STORAGE_SECRETS)
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=secrets):
        yield Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=secrets)


async def run(ductape: Ductape, env: str, operation: str, data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    job = {"product": PRODUCT, "env": env, "storage": "files", "operation": operation, "input": data} | fields
    result = await ductape.storage.dispatch(job)
    outcome: dict[str, Any] = await ductape.jobs.result(result.job_id)
    return outcome


async def fails_once(ductape: Ductape, env: str, operation: str, data: dict[str, Any]) -> JobFailedError:
    """Dispatch with 3 retries allowed; assert the job failed after its first attempt."""
    job = {
        "product": PRODUCT, "env": env, "storage": "files", "operation": operation, "input": data,
        "retries": 3, "retry": {"initialDelay": 100},
    }  # fmt: skip
    result = await ductape.storage.dispatch(job)
    with pytest.raises(JobFailedError) as failed:
        await ductape.jobs.result(result.job_id)
    assert await attempts(ductape, result.job_id) == 1
    assert (await ductape.jobs.get(result.job_id)).retry_count == 0
    return failed.value


async def attempts(ductape: Ductape, job_id: str) -> int:
    history = await ductape.client.get_workflow_handle(job_id).fetch_history()
    started = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    return int(started[-1].activity_task_started_event_attributes.attempt)


ENVS = [pytest.param("dev", id="local"), pytest.param("prd", id="s3")]


@pytest.mark.parametrize("env", ENVS)
async def test_upload_download_list_delete(ductape: Ductape, storage: Storage, env: str) -> None:
    uploaded = await run(
        ductape,
        env,
        "upload",
        {"buffer": base64.b64encode(BINARY).decode(), "fileName": "photo.bin", "path": "users/u1"},
    )
    assert uploaded == {
        "path": "users/u1/photo.bin",
        "size": len(BINARY),
        "mime_type": "application/octet-stream",
    }
    assert storage.read(env, "users/u1/photo.bin") == BINARY

    text = "Grüße, 世界\n"
    await run(ductape, env, "upload", {"text": text, "fileName": "notes.txt", "path": "users/u1"})
    assert storage.read(env, "users/u1/notes.txt") == text.encode("utf-8")

    downloaded = await run(ductape, env, "download", {"path": "users/u1/photo.bin"})
    assert base64.b64decode(downloaded["buffer"]) == BINARY
    assert downloaded["size"] == len(BINARY)
    as_text = await run(ductape, env, "download", {"path": "users/u1", "fileName": "notes.txt"})
    assert base64.b64decode(as_text["buffer"]).decode("utf-8") == text
    assert as_text["mime_type"].startswith("text/plain")

    listed = await run(ductape, env, "list", {"prefix": "users/u1"})
    assert [(e["name"], e["path"], e["size"]) for e in listed["entries"]] == [
        ("notes.txt", "users/u1/notes.txt", len(text.encode())),
        ("photo.bin", "users/u1/photo.bin", len(BINARY)),
    ]
    top = await run(ductape, env, "list", {})
    assert [(e["name"], e["type"]) for e in top["entries"]] == [("users", "directory")]
    assert [e["path"] for e in (await run(ductape, env, "list", {"recursive": True}))["entries"]] == [
        "users/u1/notes.txt",
        "users/u1/photo.bin",
    ]

    deleted = await run(ductape, env, "delete", {"path": "users/u1/photo.bin"})
    assert deleted["path"] == "users/u1/photo.bin"
    assert not storage.exists(env, "users/u1/photo.bin")
    assert storage.exists(env, "users/u1/notes.txt")

    failed = await fails_once(ductape, env, "download", {"path": "users/u1/photo.bin"})
    assert failed.error_type == "NOT_FOUND"
    failed = await fails_once(ductape, env, "delete", {"path": "users/u1/photo.bin"})
    assert failed.error_type == "NOT_FOUND"


@pytest.mark.parametrize("env", ENVS)
async def test_named_action_uploads_below_its_prefix(ductape: Ductape, storage: Storage, env: str) -> None:
    result = await ductape.storage.dispatch(
        {"product": PRODUCT, "env": env, "storage": "files", "event": "save_avatar",
         "input": {"buffer": base64.b64encode(BINARY[:300]).decode(), "fileName": "u1.png"}}
    )  # fmt: skip
    outcome = await ductape.jobs.result(result.job_id)
    assert outcome["path"] == "u1.png"
    assert outcome["mime_type"] == "image/png"
    assert storage.read(env, "avatars/u1.png") == BINARY[:300]
    if env == "prd":
        head = storage.s3.head_object(Bucket=storage.bucket, Key=f"{S3_PREFIX}/avatars/u1.png")
        assert head["ContentType"] == "image/png"


TRAVERSALS = [
    ("upload", {"text": "x", "fileName": "../x"}),
    ("upload", {"text": "x", "fileName": "x", "path": "a/../../.."}),
    ("upload", {"text": "x", "fileName": "/etc/passwd"}),
    ("upload", {"text": "x", "fileName": "..\\x"}),
    ("upload", {"text": "x", "fileName": "x\x00.txt"}),
    ("download", {"path": "/etc/passwd"}),
    ("download", {"path": "../outside/secret.txt"}),
    ("delete", {"path": "../outside/secret.txt"}),
    ("list", {"prefix": "../outside"}),
]


@pytest.mark.parametrize("env", ENVS)
async def test_traversal_is_refused_once_and_writes_nothing(ductape: Ductape, storage: Storage, env: str) -> None:
    failures = await asyncio.gather(*(fails_once(ductape, env, op, data) for op, data in TRAVERSALS))
    for failure in failures:
        assert failure.error_type == "INVALID_INPUT"
        assert "is refused" in failure.message
    assert "'..' segment" in failures[0].message
    assert "'../x'" in failures[0].message
    assert "absolute" in failures[2].message
    assert "backslash" in failures[3].message
    assert "NUL" in failures[4].message
    assert sorted(p.name for p in storage.outside.iterdir()) == ["secret.txt"]
    assert (storage.outside / "secret.txt").read_bytes() == b"do not touch"
    assert not (storage.root.parent / "x").exists()
    assert list(storage.root.iterdir()) == []
    assert storage.all_s3_keys() == []


async def test_symlinks_out_of_the_root_are_refused(ductape: Ductape, storage: Storage) -> None:
    root, outside = storage.root, storage.outside
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file_link").symlink_to(outside / "secret.txt")
    (root / "dangling").symlink_to(outside / "new.txt")
    (root / "inside").mkdir()
    (root / "inner_link").symlink_to(root / "inside", target_is_directory=True)
    attempts_ = [
        ("upload", {"text": "x", "fileName": "evil.txt", "path": "link"}),
        ("upload", {"text": "x", "fileName": "file_link"}),
        ("upload", {"text": "x", "fileName": "dangling"}),
        ("upload", {"text": "x", "fileName": "deeper/evil.txt", "path": "link"}),
        ("download", {"path": "link/secret.txt"}),
        ("download", {"path": "file_link"}),
        ("delete", {"path": "file_link"}),
        ("list", {"prefix": "link"}),
    ]
    failures = await asyncio.gather(*(fails_once(ductape, "dev", op, data) for op, data in attempts_))
    for failure in failures:
        assert failure.error_type == "INVALID_INPUT"
        assert "outside the storage root" in failure.message
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"do not touch"
    assert (root / "file_link").is_symlink()

    # A link that stays inside the root is an ordinary path; links out of it are not even listed.
    await run(ductape, "dev", "upload", {"text": "ok", "fileName": "a.txt", "path": "inner_link"})
    assert (root / "inside" / "a.txt").read_text() == "ok"
    listed = (await run(ductape, "dev", "list", {}))["entries"]
    assert [e["name"] for e in listed] == ["inner_link", "inside"]


@pytest.mark.parametrize("env", ENVS)
async def test_invalid_input_fails_once(ductape: Ductape, env: str) -> None:
    bad_base64 = await fails_once(ductape, env, "upload", {"buffer": "not base64!!", "fileName": "a.bin"})
    assert bad_base64.error_type == "INVALID_INPUT"
    assert "base64" in bad_base64.message
    both = await fails_once(ductape, env, "upload", {"fileName": "a.bin"})
    assert both.error_type == "INVALID_INPUT"
    typo = await fails_once(ductape, env, "upload", {"text": "x", "filename": "a.txt"})
    assert typo.error_type == "INVALID_INPUT"
    assert "filename" in typo.message


async def test_unreachable_s3_is_a_retried_connection_error(ductape: Ductape) -> None:
    result = await ductape.storage.dispatch(
        {"product": PRODUCT, "env": "stg", "storage": "files", "operation": "upload",
         "input": {"text": "x", "fileName": "a.txt"}, "retries": 1, "retry": {"initialDelay": 100}}
    )  # fmt: skip
    with pytest.raises(JobFailedError) as failed:
        await ductape.jobs.result(result.job_id)
    assert failed.value.error_type == "CONNECTION_ERROR"
    assert await attempts(ductape, result.job_id) == 2


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"storage": "archive"}, "storage", "storage 'archive' is not in the product"),
        ({"env": "qa"}, "env", "'qa'"),
        ({"operation": "rename"}, "event", "no operation or action 'rename'"),
        ({"operation": None, "event": "save_banner"}, "event", "save_banner"),
    ],
)
async def test_dispatch_refuses_unknown_storage_env_or_operation(
    ductape: Ductape, unique: Callable[[str], str], change: dict[str, Any], field: str, words: str
) -> None:
    job_id = unique("storage-bad")
    job = {"product": PRODUCT, "env": "dev", "storage": "files", "operation": "upload", "job_id": job_id} | change
    with pytest.raises(JobInputError) as err:
        await ductape.storage.dispatch({k: v for k, v in job.items() if v is not None})
    assert err.value.field == field
    assert words in err.value.reason
    with pytest.raises(JobNotFoundError):
        await ductape.jobs.get(job_id)


async def test_env_the_storage_does_not_define_is_refused(
    ductape: Ductape, storage: Storage, moto_endpoint: str
) -> None:
    config = storage_config(storage.root, storage.bucket, moto_endpoint)
    data = config.model_dump()
    del data["products"][PRODUCT]["storage"]["files"]["envs"]["stg"]
    narrowed = Ductape(ductape.client, task_queue="unused", config=parse_product_config(data))
    with pytest.raises(JobInputError) as err:
        await narrowed.storage.dispatch({"product": PRODUCT, "env": "stg", "storage": "files", "operation": "list"})
    assert err.value.field == "env"
    assert "storage 'files' has no settings for env 'stg'" in err.value.reason
