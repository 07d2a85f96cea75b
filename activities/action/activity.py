"""The app-action activity: one HTTP request, built from the product config and the job's input."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
from temporalio import activity

from ductape_jobs.activities.config.product_config import ActionDef, ConfigError, ProductConfig
from ductape_jobs.activities.config.secrets import (
    SecretMissingError,
    SecretNotDeclaredError,
    SecretStore,
    check_declared,
)
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.activities.http.errors import checked_response
from ductape_jobs.activities.http.target_pauses import TargetPauses, limited_target
from ductape_jobs.workflows.contracts.job import (
    RUN_ACTION,
    ActionActivityResult,
    EventActivityInput,
    IActionRequest,
)

_PARTS = ("query", "params", "body", "headers")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
MAX_RETRY_AFTER = timedelta(minutes=5)
ERROR_BODY_CHARS = 500


class ActionActivities:
    """App actions over one shared ``httpx.AsyncClient`` (connection pooling across jobs)."""

    def __init__(self, config: ProductConfig, secrets: SecretStore, http: httpx.AsyncClient) -> None:
        self._config = config
        self._secrets = secrets
        self._http = http
        self._pauses = TargetPauses()

    @activity.defn(name=RUN_ACTION)
    async def run_action(self, request: EventActivityInput) -> ActionActivityResult:
        """Send the action's request.

        Raises:
            ApplicationError: typed by cause (see ``ductape_jobs.activities.errors``); 4xx other than 408/429 and
                configuration errors are non-retryable, 5xx, timeouts and connection errors retryable.
        """
        try:
            return await self.send(request)
        except JobFailure as err:
            raise err.to_application_error(request.job.errors) from None

    async def send(self, request: EventActivityInput) -> ActionActivityResult:
        """The action's request, in-process (subscribe jobs run their target event with it).

        Raises:
            JobFailure: classified as ``run_action`` reports it.
        """
        job = request.job
        if job.app is None:
            raise JobFailure("CONFIG_ERROR", f"action {job.event!r} has no `app`")
        try:
            app_env, action = self._config.action(job.product, job.env, job.app, job.event)
            shaped = shape_request(request.input, action)
            # The input is the dispatcher's: it may only name its own product's declared secrets.
            declared = self._config.product(job.product).secrets
            check_declared(request.input, product=job.product, declared=declared)
            headers = {
                **self._secrets.resolve(app_env.headers),
                **self._secrets.resolve(action.headers),
                **{k: str(v) for k, v in self._secrets.resolve(shaped.headers).items()},
            }
            base_url = self._secrets.resolve(app_env.base_url)
            query = self._secrets.resolve(shaped.query)
            body = self._secrets.resolve(shaped.body)
        except ConfigError as err:
            raise JobFailure("CONFIG_ERROR", str(err)) from None
        except SecretNotDeclaredError as err:
            raise JobFailure("SECRET_NOT_DECLARED", str(err)) from None
        except SecretMissingError as err:
            raise JobFailure("SECRET_MISSING", str(err)) from None

        path = fill_path(action.path, shaped.params)
        if not any(k.lower() == "idempotency-key" for k in headers):
            headers["Idempotency-Key"] = idempotency_key()
        timeout = (action.timeout_ms or app_env.timeout_ms) / 1000
        what = f"{action.method} {action.path}"  # the template: filled paths may carry personal data
        activity.logger.info("calling %s for job %s", what, job.job_id)
        target, waits = limited_target(job.product, job.env), 0
        while True:
            if target is not None:
                await self._pauses.wait(target)
            call = self._http.request(
                action.method,
                base_url + path,
                params=_query_params(query),
                headers=headers,
                json=body if action.method in _BODY_METHODS and body not in (None, {}) else None,
                timeout=timeout,
            )
            try:
                response = await checked_response(call, what, timeout, details=_error_details, retry_after=_retry_after)
                break
            except JobFailure as err:
                # A limited target's 429 pauses it here, and this call waits the pause out in its attempt.
                if target is None or err.kind != "RATE_LIMITED" or err.retry_after is None:
                    raise
                may_wait = self._pauses.pause(target, err.retry_after, request_timeout_s=timeout, waits=waits)
                await self._pauses.share(target, err.retry_after)
                if not may_wait:
                    raise
                waits += 1
        keep = {h.lower() for h in action.response_headers}
        return ActionActivityResult(
            status=response.status_code,
            headers={k: v for k, v in response.headers.items() if k.lower() in keep},
            body=_body(response),
        )


def shape_request(data: dict[str, Any], action: ActionDef) -> IActionRequest:
    """Structured input (only ``query``/``params``/``body``/``headers`` keys) is taken as is.

    A flat input is routed per key: a ``body:``, ``params:``, ``query:`` or ``headers:`` prefix
    forces the place; a key named by a ``:param`` of the path goes to ``params``; the rest goes to
    the body of POST/PUT/PATCH and to the query string of other methods.

    Raises:
        JobFailure: INVALID_INPUT when a structured part has the wrong type.
    """
    if data and set(data) <= set(_PARTS):
        try:
            return IActionRequest.model_validate(data)
        except ValueError as err:
            raise JobFailure("INVALID_INPUT", f"action input: {err}") from None
    path_params = {seg[1:] for seg in action.path.split("/") if seg.startswith(":")}
    parts: dict[str, dict[str, Any]] = {p: {} for p in _PARTS}
    default = "body" if action.method in _BODY_METHODS else "query"
    for key, value in data.items():
        place, sep, name = key.partition(":")
        if sep and place in parts:
            parts[place][name] = value
        elif key in path_params:
            parts["params"][key] = value
        else:
            parts[default][key] = value
    return IActionRequest.model_validate(parts)


def fill_path(path: str, params: dict[str, Any]) -> str:
    """Replace each ``:name`` segment by the URL-quoted parameter.

    Raises:
        JobFailure: INVALID_INPUT when a path parameter is missing.
    """
    out = []
    for segment in path.split("/"):
        if segment.startswith(":"):
            name = segment[1:]
            if name not in params:
                raise JobFailure("INVALID_INPUT", f"path parameter {name!r} of {path} is missing from `params`")
            segment = quote(str(params[name]), safe="")
        out.append(segment)
    return "/".join(out)


def idempotency_key() -> str:
    """Stable across the retries of one activity in one run (same workflow run and activity ID)."""
    info = activity.info()
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"))


def _query_params(query: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, list) else ("" if v is None else str(v)) for k, v in query.items()}


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


def _error_details(response: httpx.Response) -> dict[str, Any]:
    body = _body(response)
    if isinstance(body, str) and len(body) > ERROR_BODY_CHARS:
        body = body[:ERROR_BODY_CHARS] + "..."
    return {"status": response.status_code, "body": body}


def _retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("retry-after", "")
    if not value.isdigit():
        return None
    return min(timedelta(seconds=int(value)), MAX_RETRY_AFTER)
