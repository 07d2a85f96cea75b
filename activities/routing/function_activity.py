"""The ``function`` activity: a Python callable named in the config, or an HTTP function URL."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import httpx
from pydantic import ValidationError
from pydantic_core import to_jsonable_python
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ductape_jobs.activities.config.product_config import ConfigError, ProductConfig
from ductape_jobs.activities.config.secrets import SecretMissingError, SecretStore
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.activities.http.errors import checked_response
from ductape_jobs.activities.routing.config import ConfigImportError, FunctionDef
from ductape_jobs.workflows.contracts.job import ErrorRules, EventActivityInput
from ductape_jobs.workflows.contracts.route import RUN_FUNCTION, FunctionResult, IFunctionRequest


class FunctionActivities:
    """Runs function jobs; handlers are imported once, on first use (or by ``check_handlers``)."""

    def __init__(self, config: ProductConfig, secrets: SecretStore, http: httpx.AsyncClient) -> None:
        self._config = config
        self._secrets = secrets
        self._http = http
        self._handlers: dict[str, Any] = {}

    def check_handlers(self) -> None:
        """Import every configured handler now, so a worker with a bad import path fails at start.

        Raises:
            ConfigError: naming the function and the import problem.
        """
        for product_tag, product in self._config.products.items():
            for tag, definition in product.functions.items():
                if definition.handler is not None:
                    try:
                        self._handlers[definition.handler] = definition.load()
                    except ConfigImportError as err:
                        raise ConfigError(f"products.{product_tag}.functions.{tag}.handler: {err}") from None

    @activity.defn(name=RUN_FUNCTION)
    async def run_function(self, request: EventActivityInput) -> FunctionResult:
        """Call the function with the job's ``payload``.

        Raises:
            ApplicationError: the function's own ApplicationError as raised; otherwise typed by the
                exception's class name, non-retryable for the function's ``non_retryable`` classes
                (TypeError, ValueError... by default); TIMEOUT (retryable) past ``timeout_ms``;
                CONFIG_ERROR and INVALID_INPUT never retried.
        """
        job = request.job
        try:
            definition = self._definition(job.product, job.event)
            payload = _payload(request.input)
            if definition.url is not None:
                value = await self._call_url(definition, payload)
            else:
                value = await self._call_handler(definition, payload, job.errors)
            try:
                return FunctionResult(result=to_jsonable_python(value))
            except Exception:  # pydantic raises several types for unserialisable values
                raise JobFailure(
                    "INVALID_OUTPUT", f"function {job.event!r} returned a {type(value).__name__}, not JSON data"
                ) from None
        except JobFailure as err:
            raise err.to_application_error(job.errors) from None

    def _definition(self, product: str, tag: str) -> FunctionDef:
        try:
            definition = self._config.product(product).functions.get(tag)
        except ConfigError as err:
            raise JobFailure("CONFIG_ERROR", str(err)) from None
        if definition is None:
            raise JobFailure("CONFIG_ERROR", f"function {tag!r} is not defined in product {product!r}")
        return definition

    async def _call_handler(self, definition: FunctionDef, payload: Any, rules: ErrorRules) -> Any:
        assert definition.handler is not None
        handler = self._handlers.get(definition.handler)
        if handler is None:
            try:
                handler = self._handlers.setdefault(definition.handler, definition.load())
            except ConfigImportError as err:
                raise JobFailure("CONFIG_ERROR", str(err)) from None
        timeout = definition.timeout_ms / 1000
        try:
            if inspect.iscoroutinefunction(handler):
                return await asyncio.wait_for(handler(payload), timeout)
            # A sync handler must not block the worker's event loop (and its heartbeats).
            return await asyncio.wait_for(asyncio.to_thread(handler, payload), timeout)
        except (ApplicationError, JobFailure):
            raise
        except TimeoutError:
            raise JobFailure("TIMEOUT", f"{definition.handler} took longer than {timeout:g} s") from None
        except Exception as err:
            raise _exception_error(err, definition, rules) from None

    async def _call_url(self, definition: FunctionDef, payload: Any) -> Any:
        try:
            url = self._secrets.resolve(definition.url)
            headers = self._secrets.resolve(definition.headers)
        except SecretMissingError as err:
            raise JobFailure("SECRET_MISSING", str(err)) from None
        timeout = definition.timeout_ms / 1000
        call = self._http.post(url, json={"payload": payload}, headers=headers, timeout=timeout)
        response = await checked_response(call, "the function URL", timeout)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text


def _payload(data: dict[str, Any]) -> Any:
    """``{"payload": ...}`` (Ductape's ``IFunctionRequest``); any other object is the payload itself."""
    if set(data) == {"payload"}:
        try:
            return IFunctionRequest.model_validate(data).payload
        except ValidationError as err:
            raise JobFailure("INVALID_INPUT", f"function input: {err}") from None
    return data


def _exception_error(err: Exception, definition: FunctionDef, rules: ErrorRules) -> ApplicationError:
    """The function's exception as Temporal sees it: its class name as the error type."""
    kind = type(err).__name__
    lineage = {cls.__name__ for cls in type(err).__mro__}
    retryable = not lineage & set(definition.non_retryable)
    if rules.retryable_errors is not None:
        retryable = kind in rules.retryable_errors
    if kind in rules.non_retryable_errors:
        retryable = False
    return ApplicationError(f"{kind}: {err}", type=kind, non_retryable=not retryable)
