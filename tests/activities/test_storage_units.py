"""Storage pieces without a server: path cleaning, config validation, and the activity on local files."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from ductape_jobs.activities.config.product_config import ConfigError, ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.storage.activity import StorageActivities
from ductape_jobs.activities.storage.paths import PathRefused, clean_key
from ductape_jobs.workflows.contracts.job import EventActivityInput, JobContext


def _config(root: Path, **storage: Any) -> ProductConfig:
    files = {"envs": {"dev": {"root": str(root)}}} | storage  # `backend` left out: local is the default
    return parse_product_config({"products": {"p": {"envs": ["dev"], "storage": {"files": files}}}})


async def _run(config: ProductConfig, operation: str, data: dict[str, Any]) -> Any:
    job = JobContext(job_id="j", product="p", env="dev", event=operation, app="files")
    activities = StorageActivities(config, SecretStore({}))
    return await ActivityEnvironment().run(activities.run_storage, EventActivityInput(job=job, input=data))


async def test_a_download_over_the_limit_is_refused_without_retry(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(os.urandom(2048))
    config = _config(tmp_path, max_download_bytes=1024)
    with pytest.raises(ApplicationError) as err:
        await _run(config, "download", {"path": "big.bin"})
    assert err.value.type == "TOO_LARGE"
    assert err.value.non_retryable
    small = os.urandom(1024)
    (tmp_path / "small.bin").write_bytes(small)
    result = await _run(config, "download", {"path": "small.bin"})
    assert base64.b64decode(result.buffer) == small


async def test_deleting_a_link_inside_the_root_removes_the_link_not_its_target(tmp_path: Path) -> None:
    (tmp_path / "target.txt").write_text("keep")
    (tmp_path / "alias.txt").symlink_to(tmp_path / "target.txt")
    await _run(_config(tmp_path), "delete", {"path": "alias.txt"})
    assert not (tmp_path / "alias.txt").is_symlink()
    assert (tmp_path / "target.txt").read_text() == "keep"


async def test_upload_accepts_a_data_url_and_takes_its_type(tmp_path: Path) -> None:
    data = b"\x89PNG\r\n\x1a\n\x00\x01"
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    result = await _run(_config(tmp_path), "upload", {"buffer": url, "fileName": "pic"})
    assert (tmp_path / "pic").read_bytes() == data
    assert result.mime_type == "image/png"


async def test_a_missing_root_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ApplicationError) as err:
        await _run(_config(tmp_path / "nope"), "upload", {"text": "x", "fileName": "a.txt"})
    assert err.value.type == "CONFIG_ERROR"
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize(
    ("path", "reason"),
    [("../x", "'..'"), ("a/../../b", "'..'"), ("/etc/passwd", "absolute"), ("a\\b", "backslash"),
     ("a\x00b", "NUL"), ("a\nb", "control")],
)  # fmt: skip
def test_clean_key_refuses_paths_that_could_leave_the_root(path: str, reason: str) -> None:
    with pytest.raises(PathRefused) as err:
        clean_key(path)
    assert reason in str(err.value)


def test_clean_key_normalises_harmless_segments() -> None:
    assert clean_key("./a//b/./c/") == "a/b/c"
    assert clean_key("..a/b..") == "..a/b.."


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"backend": "local", "root": "relative/dir"}, "must be an absolute path"),
        ({"backend": "s3", "bucket": "b", "access_key_id": "k", "secret_access_key": "plain"}, "$Secret{NAME}"),
        ({"backend": "s3", "bucket": "b", "prefix": "../up", "access_key_id": "k", "secret_access_key": "$Secret{S}"},
         "'..'"),
        ({"backend": "ftp", "root": "/srv"}, "backend"),
    ],
)  # fmt: skip
def test_config_refuses_unsafe_storage_settings(env: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_product_config({"products": {"p": {"envs": ["dev"], "storage": {"s": {"envs": {"dev": env}}}}}})
    assert words in str(err.value)
    assert "products.p.storage.s.envs.dev" in str(err.value)


def test_config_refuses_an_action_named_like_an_operation() -> None:
    storage = {"envs": {"dev": {"backend": "local", "root": "/srv"}}, "actions": {"upload": {"operation": "list"}}}
    with pytest.raises(ConfigError) as err:
        parse_product_config({"products": {"p": {"envs": ["dev"], "storage": {"s": storage}}}})
    assert "cannot be named like the operation" in str(err.value)
