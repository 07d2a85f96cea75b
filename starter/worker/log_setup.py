"""Process logging: text or one JSON object per line, with secrets and tokens redacted on the way out.

Redaction is the last line of defence: code never logs payloads on purpose, but an exception message
or a third-party library might carry a session token or a resolved secret.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime

REDACTED = "[redacted]"

# Compact JWS/JWE: base64url segments, the first one a JSON header ("eyJ" is `{"` encoded).
_TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){2,4}")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_MIN_SECRET_LENGTH = 4
"""Shorter values would redact ordinary words; such a secret is weak anyway."""


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with known secret values, bearer credentials and JWTs removed."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Redact these values too (longest first, so a secret containing another goes whole)."""
        known = set(self._secrets) | {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}
        self._secrets = sorted(known, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _TOKEN.sub(REDACTED, text)
        return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.redact(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now, redacted, so the handler does not print the raw one.
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        record.msg, record.args = message, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message`` (+ ``exception``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        exception = record.exc_text or (self.formatException(record.exc_info) if record.exc_info else None)
        if exception:
            entry["exception"] = exception
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str, *, level: int = logging.INFO) -> RedactingFilter:
    """Install the root handler; returns its filter so the entry point can add secret values later.

    Raises:
        ValueError: ``log_format`` is neither ``text`` nor ``json``.
    """
    if log_format not in ("text", "json"):
        raise ValueError(f"log format {log_format!r} must be `text` or `json` (DUCTAPE_LOG_FORMAT)")
    handler = logging.StreamHandler()
    redactor = RedactingFilter()
    handler.addFilter(redactor)
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs full URLs at INFO, query strings included, and those may carry credentials.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return redactor
