"""A job's session is checked at dispatch: an expired, foreign or malformed token is refused naming
``session`` (without echoing the token), and a ``$Session{...}`` placeholder needs a session."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ductape_jobs.activities.session.tokens import issue_session_token
from ductape_jobs.planning.inputs import normalise_dispatch
from ductape_jobs.planning.plan import plan_job
from ductape_jobs.workflows.contracts.job import ISession, JobInputError
from tests.conftest import SESSION_KEY
from tests.workflows.test_contracts import ACTION, CONFIG, NOW, job, params, plan, refused


def _token(**changes: Any) -> str:
    args: dict[str, Any] = {"tag": "user-session", "data": {"id": 1}, "key": SESSION_KEY, "now": datetime.now(UTC)}
    return issue_session_token(**(args | changes))


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


SESSION_REFUSED = [
    # (id, token, with config and secrets, reason)
    ("expired", lambda: _token(now=datetime.now(UTC) - timedelta(hours=3)), True, "expired"),
    ("expired, no key", lambda: _token(now=datetime.now(UTC) - timedelta(hours=3)), False, "expired"),
    ("other key", lambda: _token(key="not-the-key-at-all-0123456789"), True, "invalid"),
    ("other tag", lambda: _token(tag="other"), True, "issued for session type 'other'"),
    ("other tag, no key", lambda: _token(tag="other"), False, "issued for session type 'other'"),
    ("garbage", lambda: "garbage", True, "not a compact JWS"),
    ("garbage, no key", lambda: "garbage", False, "not a valid JWT"),
    ("absurd exp, no key", lambda: f"{_b64({'alg': 'HS256'})}.{_b64({'tag': 'user-session', 'exp': 10**20})}.s",
     False, "not a valid instant"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "config", "reason"), params(SESSION_REFUSED))
def test_session_is_checked_at_dispatch(make: Any, config: bool, reason: str) -> None:
    token = make()
    err = refused(job(session={"tag": "user-session", "token": token}), config=config, now=datetime.now(UTC))
    assert err.field == "session"
    assert reason in err.reason
    assert token not in str(err)


@pytest.mark.parametrize("config", [True, False])
def test_valid_session_passes_and_a_bad_signature_passes_without_the_key(config: bool) -> None:
    real_now, token = datetime.now(UTC), _token(data={"details": {"id": 7}})
    planned = plan(job(session=f"user-session:{token}"), config=config, now=real_now)
    assert planned.workflow_input.session == ISession(tag="user-session", token=token)
    assert token not in repr(planned.workflow_input)
    assert token.split(".")[2] not in repr(planned)
    if not config:
        plan(job(session=f"user-session:{_token(key='not-the-key-at-all-0123456789')}"), config=False, now=real_now)


@pytest.mark.parametrize("config", [True, False])
def test_session_placeholder_without_a_session_is_refused_at_dispatch_naming_the_field(config: bool) -> None:
    placeholders = {
        "body": {"userId": "$Session{details}{id}", "to": ["a@example.com", "cc: $Session{details}{email}"]}
    }
    err = refused(job(input=placeholders), config=config)
    assert err.problems == [
        ("input.body.userId", "$Session{details}{id} needs the job's `session`, and it has none"),
        ("input.body.to.1", "$Session{details}{email} needs the job's `session`, and it has none"),
    ]
    empties: list[object] = [{}, ""]
    for empty in empties:  # an empty session is no session
        assert refused(job(input=placeholders, session=empty), config=config).field == "input.body.userId"
    dispatch = {**ACTION, "product": "my-product", "input": {"userId": "$Session{details}{id}"}}
    with pytest.raises(JobInputError) as from_dispatch:
        plan_job(normalise_dispatch("actions", dispatch), now=NOW, task_queue="tq", config=CONFIG, secrets=None)
    assert from_dispatch.value.field == "input.userId"
    # With a session it is accepted, and `$Now()` alone needs none.
    real_now, token = datetime.now(UTC), _token(data={"details": {"id": 7}})
    plan(job(input=placeholders, session={"tag": "user-session", "token": token}), config=config, now=real_now)
    plan(job(input={"body": {"at": "$Now()", "price": "$Session"}}), config=config)
