"""Spreading a herd's claims (``ductape_jobs.workflows.arming``): a worker's armed attempts due at one instant
claim their events one after another over the moments before it, at the rate the server takes.

Each claim is one answered heartbeat, about a millisecond of the server's time here: a thousand
jobs due at one instant, all claiming at it, would start a second or more late. So an attempt alone
at its instant claims at it; one of a herd claims up to ``CLAIM_SPREAD_MAX`` earlier, at a place in
the herd's window fixed by its workflow ID. Its event then starts at the instant itself. A change
that reaches a job after its claim is answered "too late" (the event is committed), so in a herd a
job commits up to ``CLAIM_SPREAD_MAX`` before its instant; the workflow's rules account for it.
"""

from __future__ import annotations

import zlib
from collections import Counter
from datetime import datetime

from ductape_jobs.workflows.arming import CLAIM_SPREAD_MAX

DEFAULT_CLAIMS_PER_SECOND = 500
"""How many claims a second the server is asked to take in a herd (this machine's dev server on
SQLite answers about 1,000 a second when idle); 0 claims every attempt at its instant."""
_BUCKET_S = 0.5
"""Attempts whose instants fall in the same half second are one herd."""


class HerdClaims:
    """This worker's armed attempts, counted by instant: when each of them claims."""

    def __init__(self, claims_per_second: int = DEFAULT_CLAIMS_PER_SECOND) -> None:
        self._spacing = 1 / claims_per_second if claims_per_second > 0 else 0.0
        self._due: Counter[int] = Counter()

    def join(self, instant: datetime) -> int:
        """Count an armed attempt due at ``instant``; returns its herd's key (``leave`` it after)."""
        key = int(instant.timestamp() / _BUCKET_S)
        self._due[key] += 1
        return key

    def leave(self, key: int) -> None:
        self._due[key] -= 1
        if self._due[key] <= 0:
            del self._due[key]

    def lead_s(self, key: int, workflow_id: str) -> float:
        """How long before the instant this attempt claims: 0 alone, up to ``CLAIM_SPREAD_MAX``
        in a herd (its window grows with the herd; the place in it is fixed by the workflow ID)."""
        window = min(self._due[key] * self._spacing, CLAIM_SPREAD_MAX.total_seconds())
        return window * (zlib.crc32(workflow_id.encode()) / 2**32)
