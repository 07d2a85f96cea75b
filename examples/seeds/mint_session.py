"""Mint the session token that seed 001's examples carry (a token cannot be written literally).

    .venv/bin/python examples/seeds/mint_session.py

It calls ``ductape.sessions.start`` with ``examples/product.yaml`` and ``examples/dev.secrets``, the
session type's lifetime raised to ten years so the committed files keep working, and writes the token
into every ``examples/seeds/*.json`` that has a ``session``. The sessions it records go to a
throw-away store: a worker accepts a token whose session it has no record of unless it was revoked.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import yaml

from ductape_jobs.activities.config.product_config import parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from ductape_jobs.activities.session.store import SessionStore
from ductape_jobs.sessions import Sessions

HERE = Path(__file__).resolve().parent
TEN_YEARS_S = 10 * 365 * 86400
DATA = {"details": {"id": "user-123", "email": "john@example.com"}}
"""What seed 001's ``$Session{details}{id}`` / ``$Session{details}{email}`` read."""


async def main() -> None:
    document = yaml.safe_load((HERE.parent / "product.yaml").read_text())
    document["products"]["my-product"]["sessions"]["user-session"]["expiry"] = TEN_YEARS_S
    config = parse_product_config(document)
    secrets = SecretStore.from_sources({}, HERE.parent / "dev.secrets", names=config.declared_secrets())
    with tempfile.TemporaryDirectory() as scratch:
        store = SessionStore.from_url(f"sqlite+aiosqlite:///{scratch}/sessions.sqlite")
        sessions = Sessions(config=config, secrets=secrets, store=store)
        started = await sessions.start({"product": "my-product", "tag": "user-session", "data": DATA})
        await store.close()
    for path in sorted(HERE.glob("*.json")):
        example = json.loads(path.read_text())
        if isinstance(example.get("session"), dict):
            example["session"]["token"] = started.token
            path.write_text(json.dumps(example, indent=2) + "\n")
            print(f"token written to {path.name}")


if __name__ == "__main__":
    asyncio.run(main())
