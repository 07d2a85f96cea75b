"""Flow-control settings of the product config that the planner and the worker must agree on: rate
limits per target, and the task queue each limited target's calls wait on.

A rate limit is enforced by the Temporal server on the target's own activity task queue
(``max_task_queue_activities_per_second``): every worker polls it with the same limit, so the limit is
shared by all of them, and a job over it waits in the queue without using an attempt.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ductape_jobs.workflows.names import RATE_QUEUE_MARK


class RateLimitDef(BaseModel):
    """``rate_limit: {per_second: 20}`` or ``{per_minute: 600}``: calls a target takes, at most."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_second: float | None = Field(None, gt=0, le=10_000)
    per_minute: float | None = Field(None, gt=0, le=600_000)

    @model_validator(mode="before")
    @classmethod
    def _no_burst(cls, data: object) -> object:
        if isinstance(data, dict) and "burst" in data:
            raise ValueError(
                "`burst` cannot be set: the Temporal server's task-queue limiter sets it (about 0.3 s of calls, "
                "README 'Rate limits per target')"
            )
        return data

    @model_validator(mode="after")
    def _one_rate(self) -> RateLimitDef:
        if (self.per_second is None) == (self.per_minute is None):
            raise ValueError("give exactly one of `per_second` or `per_minute`")
        return self

    @property
    def rate(self) -> float:
        """Calls per second."""
        return self.per_second if self.per_second is not None else (self.per_minute or 0) / 60

    def describe(self) -> str:
        return f"{self.per_second:g}/s" if self.per_second is not None else f"{self.per_minute:g}/min"


def rate_limit_queue(task_queue: str, product: str, env: str, app: str, action: str | None = None) -> str:
    """The activity task queue of one limited target: an app in an env, or one action of it."""
    target = f"{product}/{env}/{app}" + (f"/{action}" if action is not None else "")
    return f"{task_queue}{RATE_QUEUE_MARK}{target}"
