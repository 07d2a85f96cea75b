"""Payload encryption: every input, result, memo, summary and failure message leaves this process
encrypted with AES-256-GCM, so workflow history (the server's database, the Web UI) never holds them
in clear. Search attributes, IDs and type names stay readable by design: they never carry secrets.

Keys are a ``Keyring``: ``kid:base64key`` pairs; the first is used to encrypt, all of them decrypt
(rotation: put the new key first, keep the old ones until their histories are gone).

No silent downgrade: a process that encrypts refuses a payload that is not encrypted
(``PlaintextPayloadError``), since such a payload was written by a client, worker or tool without the
keys, and reading it would let that client feed data in clear into encrypted jobs unnoticed. Only an
explicit ``accept_plaintext`` (``DUCTAPE_PLAINTEXT=1`` next to the keys: a migration to encryption)
reads them. What the server or the Web UI writes on its own never reaches this codec as a payload:
search attributes, IDs, schedule notes, termination and cancellation reasons, the server's own
failures (timeouts, termination) are plain fields, not payloads, and headers are not encoded (the SDK's
default). Input a person sends from the Web UI or the ``temporal`` CLI is encrypted by the codec
server's ``/encode`` when they use it (``--codec-endpoint``; ``ductape-jobs dev`` wires its UI to it),
and refused otherwise, like any other payload in clear.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from ductape_jobs.codec.converter import DATA_CONVERTER

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE = 12
_KID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class KeyringError(ValueError):
    """The key material is missing or malformed (the message never contains key bytes)."""


class PlaintextPayloadError(KeyringError):
    """An unencrypted payload reached a process that encrypts, and plaintext was not accepted."""


@dataclasses.dataclass(frozen=True)
class Keyring:
    """Encryption keys by ID; ``active`` encrypts, every key decrypts."""

    keys: dict[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise KeyringError(f"active key {self.active!r} is not in the keyring")
        for kid, key in self.keys.items():
            if not _KID.match(kid):
                raise KeyringError(f"key id {kid!r} must be 1-64 letters, digits, '_', '.', '-'")
            if len(key) != 32:
                raise KeyringError(f"key {kid!r} must be 32 bytes (AES-256), got {len(key)}")

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """``"k2:<base64>,k1:<base64>"`` (commas or newlines; ``#`` comments); the first key is active.

        Raises:
            KeyringError: empty, malformed, or a key that is not 32 bytes of base64.
        """
        keys: dict[str, bytes] = {}
        for raw in re.split(r"[,\n]", text):
            item = raw.split("#", 1)[0].strip()
            if not item:
                continue
            kid, sep, encoded = item.partition(":")
            if not sep:
                raise KeyringError("each key must be written 'id:base64'")
            try:
                keys[kid.strip()] = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise KeyringError(f"key {kid.strip()!r} is not valid base64") from None
        if not keys:
            raise KeyringError("the keyring is empty")
        return cls(keys, next(iter(keys)))

    @classmethod
    def generate(cls, kid: str = "k1") -> Keyring:
        return cls({kid: secrets.token_bytes(32)}, kid)

    def to_text(self) -> str:
        ordered = [self.active, *(k for k in self.keys if k != self.active)]
        return "\n".join(f"{kid}:{base64.b64encode(self.keys[kid]).decode()}" for kid in ordered) + "\n"

    def __repr__(self) -> str:
        return f"Keyring(active={self.active!r}, ids={sorted(self.keys)})"


def load_or_create_keyring(path: Path) -> Keyring:
    """The keyring in ``path``, created (mode 0600) with a fresh key if the file does not exist.

    Raises:
        KeyringError: the file exists but is malformed.
    """
    if path.exists():
        return Keyring.parse(path.read_text(encoding="utf-8"))
    keyring = Keyring.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(keyring.to_text())
    return keyring


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over the whole serialised payload (its original encoding travels inside).

    ``accept_plaintext`` lets ``decode`` pass unencrypted payloads through; off, it refuses them.
    """

    def __init__(self, keyring: Keyring, *, accept_plaintext: bool = False) -> None:
        self._keyring = keyring
        self._aead = {kid: AESGCM(key) for kid, key in keyring.keys.items()}
        self._accept_plaintext = accept_plaintext

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        kid = self._keyring.active
        out = []
        for payload in payloads:
            nonce = secrets.token_bytes(_NONCE)
            sealed = self._aead[kid].encrypt(nonce, payload.SerializeToString(), kid.encode())
            out.append(Payload(metadata={"encoding": ENCODING, KEY_ID: kid.encode()}, data=nonce + sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Raises:
        PlaintextPayloadError: an unencrypted payload, unless plaintext is accepted.
        KeyringError: a payload sealed with an unknown key, or tampered with.
        """
        out = []
        for payload in payloads:
            encoding = payload.metadata.get("encoding")
            if encoding != ENCODING:
                if not self._accept_plaintext:
                    raise PlaintextPayloadError(
                        f"refused an unencrypted payload (encoding {(encoding or b'none').decode(errors='replace')!r}):"
                        " it was written by a client, worker or tool without the payload encryption keys; set"
                        " DUCTAPE_PLAINTEXT=1 on this process to accept unencrypted payloads"
                    )
                out.append(payload)
                continue
            kid = payload.metadata.get(KEY_ID, b"").decode()
            aead = self._aead.get(kid)
            if aead is None:
                raise KeyringError(f"payload encrypted with key {kid!r}, which is not in the keyring")
            try:
                clear = aead.decrypt(payload.data[:_NONCE], payload.data[_NONCE:], kid.encode())
            except InvalidTag:
                raise KeyringError(f"payload under key {kid!r} failed authentication") from None
            out.append(Payload.FromString(clear))
        return out


def encrypted_converter(keyring: Keyring, *, accept_plaintext: bool = False) -> DataConverter:
    """The project's converter with the codec and encoded failure attributes (messages and stacks);
    unencrypted payloads are refused unless ``accept_plaintext``."""
    return dataclasses.replace(
        DATA_CONVERTER,
        payload_codec=EncryptionCodec(keyring, accept_plaintext=accept_plaintext),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
