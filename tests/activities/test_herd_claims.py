"""Spreading a herd's claims (``ductape_jobs.activities.arming.herd_claims``): alone a job claims at its
instant; in a herd its claim moves up to ``CLAIM_SPREAD_MAX`` earlier, at the rate set, at a place fixed by its ID."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ductape_jobs.activities.arming.herd_claims import HerdClaims
from ductape_jobs.workflows.arming import CLAIM_SPREAD_MAX

INSTANT = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def test_a_job_alone_claims_at_its_instant() -> None:
    herds = HerdClaims(500)
    key = herds.join(INSTANT)
    assert 0 <= herds.lead_s(key, "job-1") < 0.002  # one claim's share of a second: 2 ms at most


def test_a_herd_spreads_its_claims_at_the_rate_set_and_no_earlier_than_the_cap() -> None:
    herds = HerdClaims(500)
    keys = [herds.join(INSTANT + timedelta(milliseconds=i % 100)) for i in range(400)]
    leads = [herds.lead_s(keys[0], f"job-{i}") for i in range(400)]
    assert max(leads) <= 400 / 500  # 400 claims at 500 a second: within 0.8 s of the instant
    assert max(leads) > 0.7  # and spread over that window, not bunched at the instant
    for _ in range(2000):
        herds.join(INSTANT)
    assert max(herds.lead_s(keys[0], f"job-{i}") for i in range(400)) <= CLAIM_SPREAD_MAX.total_seconds()


def test_the_place_in_the_herd_is_fixed_by_the_job_and_a_rate_of_zero_claims_at_the_instant() -> None:
    herds = HerdClaims(500)
    key = next(herds.join(INSTANT) for _ in range(300))
    assert herds.lead_s(key, "job-a") == herds.lead_s(key, "job-a") != herds.lead_s(key, "job-b")
    at_the_instant = HerdClaims(0)
    key = next(at_the_instant.join(INSTANT) for _ in range(300))
    assert at_the_instant.lead_s(key, "job-a") == 0


def test_a_herd_that_left_counts_no_more() -> None:
    herds = HerdClaims(100)
    keys = [herds.join(INSTANT) for _ in range(50)]
    for key in keys[1:]:
        herds.leave(key)
    assert herds.lead_s(keys[0], "job-a") < 0.01  # alone again
    herds.leave(keys[0])
    assert herds.lead_s(keys[0], "job-a") == 0
