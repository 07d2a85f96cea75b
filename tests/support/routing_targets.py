"""User code that function and feature jobs run in the tests: real callables and a real workflow."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

calls: Counter[str] = Counter()
"""How many times each function ran (the worker runs in the test's process)."""


def greet(payload: dict[str, Any]) -> dict[str, Any]:
    calls["greet"] += 1
    return {"greeting": f"Hello, {payload['name']}!", "letters": len(payload["name"])}


async def reject(payload: dict[str, Any]) -> None:
    calls["reject"] += 1
    raise ValueError(f"no such plan: {payload.get('plan')}")


def flaky(payload: dict[str, Any]) -> str:
    """Fails with a retryable error until its third call."""
    calls["flaky"] += 1
    if calls["flaky"] < 3:
        raise ConnectionError("upstream not ready")
    return "ready"


async def slow(payload: dict[str, Any]) -> None:
    calls["slow"] += 1
    await asyncio.sleep(30)


@workflow.defn(name="Onboarding")
class OnboardingWorkflow:
    """A feature: waits a (virtual) moment, then answers with the steps it took for the user."""

    @workflow.run
    async def run(self, data: dict[str, Any]) -> dict[str, Any]:
        await workflow.sleep(timedelta(milliseconds=10))
        return {"user": data["user"], "steps": ["account", "profile", "welcome"]}


@workflow.defn(name="RefundCheck")
class RefundCheckWorkflow:
    """A feature that refuses its input."""

    @workflow.run
    async def run(self, data: dict[str, Any]) -> None:
        raise ApplicationError(f"refund of {data.get('amount')} is over the limit", type="REFUND_TOO_LARGE")
