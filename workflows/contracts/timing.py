"""Data contracts of a job's timing: its retry policy, its repetition (cron or every, zone, DST,
catch-up) and the dispatch ``schedule`` option that carries them.

Imports only pydantic and other ``ductape_jobs.workflows.contracts`` modules.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationInfo, field_validator, model_validator

from ductape_jobs.workflows.contracts.flow_control import CatchupDef
from ductape_jobs.workflows.contracts.instants import InstantField, check_time_zone
from ductape_jobs.workflows.contracts.job import StrictInput


class IRetryConfig(StrictInput):
    """Seed 003's retry strategy; every delay in milliseconds."""

    initial_delay: int = Field(1000, ge=1, validation_alias=AliasChoices("initialDelay", "initial_delay"))
    """Delay before the first retry (default 1 s)."""
    max_delay: int = Field(300_000, ge=1, validation_alias=AliasChoices("maxDelay", "max_delay"))
    """Upper bound of the delay between retries (default 5 min)."""
    backoff_multiplier: float = Field(
        2.0, ge=1.0, le=100.0, validation_alias=AliasChoices("backoffMultiplier", "backoff_multiplier")
    )
    """Growth factor of the delay; 1 gives a fixed delay (default 2)."""
    retryable_errors: list[str] | None = Field(
        None, validation_alias=AliasChoices("retryableErrors", "retryable_errors")
    )
    """If set, only these error types are retried."""
    non_retryable_errors: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("nonRetryableErrors", "non_retryable_errors")
    )
    """Error types never retried, on top of the built-in ones (4xx other than 408/429...)."""

    @model_validator(mode="after")
    def _delays(self) -> IRetryConfig:
        if self.max_delay < self.initial_delay:
            raise ValueError("maxDelay must not be smaller than initialDelay")
        return self


def whole_seconds(milliseconds: int) -> int:
    """An interval a Temporal schedule can keep: its resolution is one second."""
    if milliseconds < 1000 or milliseconds % 1000:
        raise ValueError(
            "must be a whole number of seconds in milliseconds (at least 1000); "
            "Temporal schedules have a resolution of one second"
        )
    return milliseconds


def strict_count(value: object, reason: str) -> object:
    """A number written as a number: pydantic's lax mode would read ``true`` as 1 and ``"3"`` as 3."""
    if isinstance(value, bool | str):
        raise ValueError(reason)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class IDstPolicy(StrictInput):
    """Extension: what a cron job at a fixed wall-clock hour does on a DST change day."""

    skipped: Literal["shift", "skip"] = "shift"
    """A time in the spring-forward gap: ``shift`` runs at the first instant after the gap (03:00 for
    02:30), ``skip`` does not run that day."""
    repeated: Literal["first", "both"] = "first"
    """A time in the repeated fall-back hour: ``first`` runs once (the first, daylight-time
    occurrence), ``both`` runs at each occurrence."""


class IJobRepeatOptions(StrictInput):
    """Seed 001's ``repeat``: a cron expression or an interval (or both: ``every`` when the cron has
    no run), bounded by ``limit``/``endDate``."""

    cron: str | None = None
    """Five-field cron expression, evaluated in ``tz`` (UTC by default)."""
    every: int | None = Field(None, gt=0)
    """Interval in milliseconds between runs; a whole number of seconds."""
    limit: int | None = Field(None, ge=1)
    """Number of runs in total; unlimited when absent. Retries do not count."""
    end_date: InstantField = Field(None, validation_alias=AliasChoices("endDate", "end_date"))
    """No run starts after this instant (epoch ms, ISO-8601)."""
    tz: str | None = None
    """IANA time zone for ``cron`` (e.g. ``Europe/Amsterdam``)."""
    catchup: CatchupDef | None = None
    """Extension: the catch-up policy (``CatchupDef``); a number is the window (ms, at least 10 s) of
    ``once``, as earlier versions took it. Absent: one late run within 60 s, as before."""
    jitter: int | None = Field(None, ge=0)
    """Extension: each run starts up to this many ms after its time (spreads load); 0 = none."""
    dst: IDstPolicy | None = None
    """Extension: DST policy of a cron job whose hour field is fixed (default ``shift`` + ``first``);
    jobs whose hour is ``*`` or a step, and ``every`` jobs, keep their real-time cadence."""
    pause_on_failure: bool = False
    """Extension: a run that fails (after its retries) pauses the job, instead of the next runs
    coming as scheduled; ``jobs.get`` shows the error, ``jobs.resume`` goes on."""

    @field_validator("cron")
    @classmethod
    def _cron_text(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value.strip() if value is not None else None

    @field_validator("dst")
    @classmethod
    def _dst_needs_cron(cls, value: IDstPolicy | None, info: ValidationInfo) -> IDstPolicy | None:
        if value is not None and info.data.get("every") is not None and info.data.get("cron") is None:
            raise ValueError("applies to `cron` jobs only (`every` keeps its real-time cadence)")
        return value

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: object) -> object:
        return strict_count(value, "must be a number of milliseconds")

    @field_validator("limit", mode="before")
    @classmethod
    def _limit(cls, value: object) -> object:
        return strict_count(value, "must be a whole number of runs")

    @field_validator("every")
    @classmethod
    def _whole_seconds(cls, value: int | None) -> int | None:
        return None if value is None else whole_seconds(value)

    @field_validator("catchup", mode="before")
    @classmethod
    def _catchup_window(cls, value: object) -> object:
        # A number is the window of ``once``, as earlier versions read it.
        return (
            {"policy": "once", "window_ms": value} if isinstance(value, int) and not isinstance(value, bool) else value
        )

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_time_zone(value)

    @model_validator(mode="after")
    def _cron_or_every(self) -> IJobRepeatOptions:
        # Both together: `cron` rules, `every` takes over when the cron has no run in the job's window
        # (seed 001: "`every` if `cron` fails"); ductape_jobs.planning.recurrence decides which.
        if self.cron is None and self.every is None:
            raise ValueError("needs either `cron` or `every`")
        return self


class IDispatchSchedule(StrictInput):
    """Seed 003's ``schedule`` option: when to start, and how to repeat."""

    start_at: InstantField = None
    """When to start: epoch ms, ISO-8601, or absent/0 for now."""
    cron: str | None = None
    # Typed by IJobRepeatOptions, which validates them (a bool must not pass as 1 on the way).
    every: Any = None
    limit: Any = None
    end_date: Any = Field(None, validation_alias=AliasChoices("endDate", "end_date"))
    tz: str | None = None
    catchup: Any = None
    jitter: int | None = None
    dst: Any = None
    pause_on_failure: Any = None

    def repeat(self) -> dict[str, Any] | None:
        """The recurring part in ``IJobRepeatOptions`` form, or None for a one-off job."""
        fields = {
            # `endDate` as the caller wrote it, so an error names `schedule.endDate`.
            "cron": self.cron, "every": self.every, "limit": self.limit, "endDate": self.end_date, "tz": self.tz,
            "catchup": self.catchup, "jitter": self.jitter, "dst": self.dst,
        }  # fmt: skip
        present = {k: v for k, v in fields.items() if v is not None}
        if present and self.pause_on_failure is not None:
            present["pause_on_failure"] = self.pause_on_failure
        return present or None

    @model_validator(mode="after")
    def _pause_needs_recurrence(self) -> IDispatchSchedule:
        if self.pause_on_failure is not None and self.repeat() is None:
            raise ValueError("`pause_on_failure` applies to recurring jobs (give `cron` or `every`)")
        return self
