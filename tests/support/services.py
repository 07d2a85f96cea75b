"""Local services the event-type tests run against: skipped on a laptop without them (failed under
``CI=true``: tests/support/strict_ci.py)."""

from __future__ import annotations

import socket

import pytest

POSTGRES = ("127.0.0.1", 5432)
MARIADB = ("127.0.0.1", 3306)
REDIS = ("127.0.0.1", 6379)
RABBITMQ = ("127.0.0.1", 5672)
MQTT = ("127.0.0.1", 1883)
NATS = ("127.0.0.1", 4222)


def require_service(name: str, address: tuple[str, int]) -> None:
    """Skip the calling test, saying why, when ``address`` does not accept connections."""
    try:
        with socket.create_connection(address, timeout=1.0):
            return
    except OSError as err:
        reason = f"{name} is not reachable on {address[0]}:{address[1]} ({err.strerror or err})"
    pytest.skip(reason)
