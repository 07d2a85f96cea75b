"""Payload encryption at rest: keys, the codec, the codec server, and a scan of the server's database."""

from __future__ import annotations

import asyncio
import base64
import logging
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.session.tokens import issue_session_token
from ductape_jobs.client import connect_client, resolve_keyring
from ductape_jobs.codec.encryption import (
    EncryptionCodec,
    Keyring,
    KeyringError,
    PlaintextPayloadError,
    encrypted_converter,
)
from ductape_jobs.codec.server import CodecServer, build_codec_app, viewer_codec
from ductape_jobs.dev.server import temporal_binary
from ductape_jobs.settings import Settings
from ductape_jobs.workflows.names import SEARCH_ATTRIBUTES
from tests.conftest import SECRETS, SESSION_KEY, TEST_KEYRING, product_config_for
from tests.support.http_target import HttpTarget
from tests.support.workers import job_worker

TOKEN = "codec-token-for-tests-0123456789"
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email":"ada@example.com"}')


def keyring(*kids: str) -> Keyring:
    return Keyring({kid: bytes([i]) * 32 for i, kid in enumerate(kids)}, kids[0])


async def test_codec_round_trip_rotation_and_tampering() -> None:
    old = EncryptionCodec(keyring("k1"))
    (sealed,) = await old.encode([PLAIN])
    assert sealed.metadata["encryption-key-id"] == b"k1"
    assert b"ada@example.com" not in sealed.data
    rotated = EncryptionCodec(Keyring({**keyring("k1").keys, "k2": b"\x07" * 32}, "k2"))
    assert await rotated.decode([sealed]) == [PLAIN]  # old payloads stay readable after rotation
    (newer,) = await rotated.encode([PLAIN])
    assert newer.metadata["encryption-key-id"] == b"k2"
    with pytest.raises(KeyringError, match="not in the keyring"):
        await old.decode([newer])
    tampered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(KeyringError, match="failed authentication"):
        await old.decode([tampered])
    with pytest.raises(
        PlaintextPayloadError, match=r"unencrypted payload \(encoding 'json/plain'\).*DUCTAPE_PLAINTEXT"
    ):
        await old.decode([sealed, PLAIN])  # no silent downgrade to data in clear
    assert await EncryptionCodec(keyring("k1"), accept_plaintext=True).decode([sealed, PLAIN]) == [PLAIN, PLAIN]


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"), ("k1", "'id:base64'"), ("k1:!!!", "not valid base64"),
     ("k1:" + base64.b64encode(b"x" * 16).decode(), "must be 32 bytes"),
     ("bad id:" + base64.b64encode(b"x" * 32).decode(), "key id")],
)  # fmt: skip
def test_keyring_errors(text: str, message: str) -> None:
    with pytest.raises(KeyringError, match=message):
        Keyring.parse(text)


def test_keyring_text_round_trip_and_repr_hides_keys() -> None:
    ring = Keyring.generate("main")
    assert Keyring.parse(ring.to_text()) == ring
    assert base64.b64encode(ring.keys["main"]).decode() not in repr(ring)


def test_keys_are_found_in_order_or_refused(tmp_path: Path) -> None:
    text = TEST_KEYRING.to_text()
    assert resolve_keyring(Settings(encryption_keys=text)) == TEST_KEYRING
    file = tmp_path / "keys"
    file.write_text(text)
    assert resolve_keyring(Settings(encryption_key_file=file)) == TEST_KEYRING
    assert resolve_keyring(Settings(), default_file=file) == TEST_KEYRING
    with pytest.raises(KeyringError, match="DUCTAPE_ENCRYPTION_KEYS"):
        resolve_keyring(Settings(), default_file=tmp_path / "none")
    assert resolve_keyring(Settings(plaintext=True), default_file=tmp_path / "none") is None


@pytest.fixture
async def codec_url() -> AsyncIterator[str]:
    app = build_codec_app(viewer_codec(TEST_KEYRING), token=TOKEN, allowed_origins=["http://localhost:8233"])
    async with CodecServer(app, port=0) as server:
        yield server.url


async def test_codec_server_needs_the_token_and_decodes_with_it(codec_url: str) -> None:
    (sealed,) = await EncryptionCodec(TEST_KEYRING).encode([PLAIN])
    body = json_format.MessageToJson(Payloads(payloads=[sealed]))
    async with httpx.AsyncClient() as http:
        assert (await http.post(f"{codec_url}/decode", content=body)).status_code == 401
        wrong = await http.post(f"{codec_url}/decode", content=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        for url, headers in (
            (f"{codec_url}/decode", {"Authorization": f"Bearer {TOKEN}"}),
            (f"{codec_url}/t/{TOKEN}/decode", {}),
        ):
            answer = await http.post(url, content=body, headers=headers)
            assert answer.status_code == 200
            assert list(json_format.Parse(answer.text, Payloads()).payloads) == [PLAIN]
        # For the Web UI's eyes only: a payload stored in clear is shown as it is, next to decrypted ones.
        mixed = json_format.MessageToJson(Payloads(payloads=[sealed, PLAIN]))
        answer = await http.post(f"{codec_url}/t/{TOKEN}/decode", content=mixed)
        assert list(json_format.Parse(answer.text, Payloads()).payloads) == [PLAIN, PLAIN]
        allowed = await http.options(f"{codec_url}/decode", headers={"Origin": "http://localhost:8233"})
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:8233"
        assert "authorization" in allowed.headers["access-control-allow-headers"]
        other = await http.options(f"{codec_url}/decode", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


@pytest.fixture(scope="module")
async def file_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[WorkflowEnvironment, Path]]:
    """A dev server on a SQLite file of its own, so the test can read what the server stored."""
    db = tmp_path_factory.mktemp("scan") / "temporal.sqlite"
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        dev_server_database_filename=str(db),
        search_attributes=list(SEARCH_ATTRIBUTES),
        data_converter=encrypted_converter(TEST_KEYRING),
    ) as env:
        yield env, db


async def test_nothing_sensitive_reaches_the_servers_database_or_the_logs(
    file_server: tuple[WorkflowEnvironment, Path],
    http_target: HttpTarget,
    task_queue: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    env, db = file_server
    config = product_config_for(http_target.url)
    token = issue_session_token(
        tag="user-session",
        data={"details": {"id": "usr-7781", "email": "grace.hopper@example.org", "phone": "+31-6-5550-1234"}},
        key=SESSION_KEY,
        now=datetime.now(UTC),
    )
    http_target.script("/missing", [500])
    ductape = Ductape(env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
    caplog.set_level(logging.DEBUG)
    async with job_worker(env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
        personal = {
            "name": "Grace Brewster Hopper",
            "to": "$Session{details}{email}",
            "phone": "$Session{details}{phone}",
        }
        ok = await ductape.processor.job.schedule(
            {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
             "input": {"body": personal, "headers": {"X-Api-Key": "$Secret{EMAIL_KEY}"}},
             "session": {"tag": "user-session", "token": token}}
        )  # fmt: skip
        await ductape.jobs.result(ok.job_id)
        failing = await ductape.processor.job.schedule(
            {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": "missing",
             "input": {"body": personal}, "session": f"user-session:{token}"}
        )  # fmt: skip
        with pytest.raises(JobFailedError):  # the target answers 500 echoing the personal data
            await ductape.jobs.result(failing.job_id)
        later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        await ductape.processor.job.schedule(
            {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
             "input": {"body": personal}, "session": {"tag": "user-session", "token": token},
             "start_at": later, "repeat": {"every": 3_600_000}}
        )  # fmt: skip
    await asyncio.sleep(1.5)  # let the server flush its writes (WAL) before reading the files
    delivered = http_target.calls("/v1/welcome")[0]
    assert delivered.body["to"] == "grace.hopper@example.org"  # resolved for the target, and only there
    assert delivered.headers["X-Api-Key"] == SECRETS["EMAIL_KEY"]

    stored = b"".join(p.read_bytes() for p in db.parent.glob(f"{db.name}*"))
    assert len(stored) > 100_000
    assert b"send_welcome_email" in stored  # search attributes stay readable by design
    needles = [token, "grace.hopper@example.org", "+31-6-5550-1234", "usr-7781", "Grace Brewster Hopper",
               SECRETS["EMAIL_KEY"], SECRETS["SESSION_KEY"]]  # fmt: skip
    for needle in needles:
        for form in (needle.encode(), base64.b64encode(needle.encode())):
            assert form not in stored, f"{needle[:12]}... found in the server's database"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for needle in needles:
        assert needle not in logged


async def test_temporal_cli_decodes_through_the_codec_server(
    file_server: tuple[WorkflowEnvironment, Path], http_target: HttpTarget, task_queue: str, codec_url: str
) -> None:
    env, _ = file_server
    config = product_config_for(http_target.url)
    ductape = Ductape(env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS))
    async with job_worker(env.client, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
        job = await ductape.processor.job.schedule(
            {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
             "input": {"body": {"marker": "decoded-through-codec"}}}
        )  # fmt: skip
        await ductape.jobs.result(job.job_id)
    address = env.client.service_client.config.target_host

    async def show(*extra: str) -> str:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "temporal"), "workflow", "show", "-w", job.job_id,
            "--address", address, *extra,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        return out.decode()

    assert "decoded-through-codec" not in await show()
    decoded = await show("--codec-endpoint", codec_url, "--codec-auth", f"Bearer {TOKEN}")
    assert "decoded-through-codec" in decoded


async def _first_failed_workflow_task(client: Client, job_id: str) -> BaseException:
    """The decoded failure of the workflow's first failed workflow task (waits for it)."""
    async for event in client.get_workflow_handle(job_id).fetch_history_events(wait_new_event=True):
        if event.HasField("workflow_task_failed_event_attributes"):
            return await client.data_converter.decode_failure(event.workflow_task_failed_event_attributes.failure)
    raise AssertionError("the workflow closed without a failed workflow task")


async def test_a_job_written_in_clear_is_refused_unless_plaintext_is_allowed(
    dev_env: WorkflowEnvironment, http_target: HttpTarget, task_queue: str
) -> None:
    """A client without keys starts a job: an encrypting worker and client refuse to read it (nothing
    runs, the reason is in the worker's failed workflow task); allowed explicitly, both read it."""
    address = dev_env.client.service_client.config.target_host
    plain = await connect_client(Settings(address=address, plaintext=True), None)
    allowing = await connect_client(Settings(address=address, plaintext=True), TEST_KEYRING)
    strict = await connect_client(Settings(address=address), TEST_KEYRING)
    config = product_config_for(http_target.url)
    job = await Ductape(plain, task_queue=task_queue, config=config).processor.job.schedule(
        {"product_tag": "my-product", "env": "dev", "app": "email-service", "event": "send_welcome_email",
         "input": {"body": {"marker": "written-in-clear"}}}
    )  # fmt: skip
    async with job_worker(strict, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
        async with asyncio.timeout(30):
            refusal = await _first_failed_workflow_task(strict, job.job_id)
    assert "refused an unencrypted payload (encoding 'json/plain')" in str(refusal)
    assert "DUCTAPE_PLAINTEXT=1" in str(refusal)
    with pytest.raises(PlaintextPayloadError):
        await Ductape(strict, task_queue=task_queue).jobs.get(job.job_id)
    assert http_target.calls("/v1/welcome") == []

    async with job_worker(allowing, task_queue=task_queue, config=config, secrets=SecretStore(SECRETS)):
        await Ductape(allowing, task_queue=task_queue).jobs.result(job.job_id)
    (call,) = http_target.calls("/v1/welcome")
    assert call.body == {"marker": "written-in-clear"}
    assert (await Ductape(allowing, task_queue=task_queue).jobs.get(job.job_id)).status == "completed"
