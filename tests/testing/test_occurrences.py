"""``occurrences`` and ``assert_occurrences``: a recurring job's runs from the planning code, DST days included."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ductape_jobs.testing import assert_occurrences, occurrences
from ductape_jobs.workflows.contracts.job import JobInputError

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=AMSTERDAM)


def test_a_daily_cron_across_the_spring_forward_day_in_amsterdam() -> None:
    runs = occurrences(
        "0 9 * * *", tz="Europe/Amsterdam", start=local("2027-03-27T00:00"), end=local("2027-03-29T23:59")
    )
    # 09:00 local every day: 08:00 UTC in winter time, 07:00 UTC from the 28th on.
    assert runs == [
        datetime(2027, 3, 27, 8, tzinfo=UTC),
        datetime(2027, 3, 28, 7, tzinfo=UTC),
        datetime(2027, 3, 29, 7, tzinfo=UTC),
    ]


def test_a_time_in_the_gap_and_in_the_repeated_hour_follows_the_dst_policy() -> None:
    spring = occurrences(
        {"cron": "30 2 * * *", "tz": "Europe/Amsterdam"}, start=local("2027-03-27T00:00"), end=local("2027-03-28T23:59")
    )
    assert [t.astimezone(AMSTERDAM).isoformat() for t in spring] == [
        "2027-03-27T02:30:00+01:00",
        "2027-03-28T03:00:00+02:00",  # 02:30 does not exist that day: `shift` runs at the end of the gap
    ]
    skipped = occurrences(
        {"cron": "30 2 * * *", "tz": "Europe/Amsterdam", "dst": {"skipped": "skip"}},
        start=local("2027-03-27T00:00"),
        end=local("2027-03-28T23:59"),
    )
    assert len(skipped) == 1
    autumn = occurrences(
        {"cron": "30 2 * * *", "tz": "Europe/Amsterdam", "dst": {"repeated": "both"}},
        start=local("2027-10-31T00:00"),
        end=local("2027-10-31T23:59"),
    )
    assert [t.astimezone(AMSTERDAM).isoformat() for t in autumn] == [
        "2027-10-31T02:30:00+02:00",
        "2027-10-31T02:30:00+01:00",
    ]


def test_every_limit_and_end_date() -> None:
    start = datetime(2027, 1, 1, 12, 0, 0, 250_000, tzinfo=UTC)  # rounded up to the whole second
    runs = occurrences({"every": 3_600_000, "limit": 3}, start=start, end=datetime(2027, 1, 2, tzinfo=UTC))
    assert [t.isoformat() for t in runs] == [
        "2027-01-01T12:00:01+00:00",
        "2027-01-01T13:00:01+00:00",
        "2027-01-01T14:00:01+00:00",
    ]
    bounded = occurrences(
        {"cron": "0 * * * *", "endDate": "2027-01-01T15:00:00Z"}, start=start, end=datetime(2027, 1, 2, tzinfo=UTC)
    )
    assert [t.hour for t in bounded] == [13, 14, 15]  # endDate is inclusive


def test_assert_occurrences_passes_on_instants_given_in_any_offset() -> None:
    assert_occurrences(
        "0 9 * * MON",
        ["2027-03-22T09:00:00+01:00", "2027-03-29T07:00:00Z"],
        tz="Europe/Amsterdam",
        start=local("2027-03-20T00:00"),
        end=local("2027-04-01T00:00"),
    )


def test_assert_occurrences_shows_what_is_missing_and_what_is_unexpected() -> None:
    with pytest.raises(AssertionError) as failed:
        assert_occurrences(
            "0 9 * * *",
            # A naive expectation: 09:00 on the 28th as if it were still winter time.
            ["2027-03-27T09:00:00+01:00", "2027-03-28T09:00:00+01:00"],
            tz="Europe/Amsterdam",
            start=local("2027-03-27T00:00"),
            end=local("2027-03-28T23:59"),
        )
    message = str(failed.value)
    assert message.splitlines() == [
        "0 9 * * * in Europe/Amsterdam between 2027-03-27T00:00:00+01:00 and 2027-03-28T23:59:00+02:00: runs differ "
        "(- expected but not run, + run but not expected)",
        "   Sat 2027-03-27 09:00:00+0100 (CET) = 08:00:00 UTC",
        "+  Sun 2027-03-28 09:00:00+0200 (CEST) = 07:00:00 UTC  (runs, not expected)",
        "-  Sun 2027-03-28 10:00:00+0200 (CEST) = 08:00:00 UTC  (expected, not run)",
    ]


def test_bad_input_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="aware"):
        occurrences("0 9 * * *", start=datetime(2027, 1, 1), end=datetime(2027, 1, 2))
    with pytest.raises(JobInputError, match=r"repeat\.cron"):
        occurrences("61 9 * * *", start=datetime(2027, 1, 1, tzinfo=UTC), end=datetime(2027, 1, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="more than 10000 runs"):
        occurrences("* * * * *", start=datetime(2027, 1, 1, tzinfo=UTC), end=datetime(2027, 2, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="no UTC offset"):
        assert_occurrences(
            "0 9 * * *",
            ["2027-01-01T09:00:00"],
            start=datetime(2027, 1, 1, tzinfo=UTC),
            end=datetime(2027, 1, 2, tzinfo=UTC),
        )
