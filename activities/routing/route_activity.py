"""``ductape.resolve_route``: what a feature, fallback or quota job runs, read from the product config."""

from __future__ import annotations

from collections.abc import Mapping

from temporalio import activity

from ductape_jobs.activities.config.product_config import ConfigError, ProductConfig, ProductDef
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.activities.routing.config import ConfigImportError, OptionDef, RouteDef, workflow_type_of
from ductape_jobs.workflows.contracts.job import JobEventType
from ductape_jobs.workflows.contracts.route import RouteOption, RoutePlan, RouteRequest
from ductape_jobs.workflows.names import RESOLVE_ROUTE

OPTION_TIMEOUT_MS = 60_000
"""Start-to-close timeout of an option's attempt, unless its own config asks for longer."""


class RouteActivities:
    def __init__(self, config: ProductConfig, activity_of: Mapping[JobEventType, str | None]) -> None:
        """``activity_of``: each event type's activity (``ductape_jobs.activities.registry``), written into
        the options so the workflow needs no table of its own."""
        self._config = config
        self._activity_of = activity_of

    @activity.defn(name=RESOLVE_ROUTE)
    async def resolve_route(self, request: RouteRequest) -> RoutePlan:
        """The child workflow of a feature, or the options of a fallback or quota.

        Raises:
            ApplicationError: CONFIG_ERROR (never retried) when the tag, a class or an option is missing.
        """
        try:
            return self._plan(request)
        except JobFailure as err:
            raise err.to_application_error(request.job.errors) from None

    def _plan(self, request: RouteRequest) -> RoutePlan:
        job = request.job
        try:
            product = self._config.product(job.product)
        except ConfigError as err:
            raise JobFailure("CONFIG_ERROR", str(err)) from None
        if request.event_type is JobEventType.FEATURE:
            feature = product.features.get(job.event)
            if feature is None:
                raise JobFailure("CONFIG_ERROR", f"feature {job.event!r} is not defined in product {job.product!r}")
            try:
                workflow_type = workflow_type_of(feature.load())
            except ConfigImportError as err:
                raise JobFailure("CONFIG_ERROR", str(err)) from None
            return RoutePlan(kind="feature", workflow_type=workflow_type, task_queue=feature.task_queue)
        kind = "fallback" if request.event_type is JobEventType.FALLBACK else "quota"
        route = route_of(product, request.event_type, job.event)
        if route is None:
            raise JobFailure("CONFIG_ERROR", f"{kind} {job.event!r} is not defined in product {job.product!r}")
        options = [self._option(job.product, job.env, product, option) for option in route.options]
        return RoutePlan(kind=kind, options=options)

    def _option(self, product_tag: str, env: str, product: ProductDef, option: OptionDef) -> RouteOption:
        app, timeout_ms = option.app, OPTION_TIMEOUT_MS
        if option.type is JobEventType.ACTION:
            app = app or self._config.find_action_app(product_tag, option.event)
            if app is None:
                raise JobFailure("CONFIG_ERROR", f"no app of {product_tag!r} defines an action {option.event!r}")
            try:
                app_env, action = self._config.action(product_tag, env, app, option.event)
            except ConfigError as err:
                raise JobFailure("CONFIG_ERROR", str(err)) from None
            timeout_ms = max(OPTION_TIMEOUT_MS, (action.timeout_ms or app_env.timeout_ms) + 10_000)
        elif option.type is JobEventType.FUNCTION:
            function = product.functions.get(option.event)
            if function is not None:
                timeout_ms = max(OPTION_TIMEOUT_MS, function.timeout_ms + 10_000)
        target = f"{app}/{option.event}" if app else option.event
        return RouteOption(
            event_type=option.type,
            event=option.event,
            app=app,
            activity=self._activity_of.get(option.type),
            input=option.input,
            weight=option.weight,
            timeout_ms=timeout_ms,
            label=f"{option.type.value} {target}",
        )


def route_of(product: ProductDef, event_type: JobEventType, tag: str) -> RouteDef | None:
    """The fallback or quota ``tag`` of ``product``."""
    routes = product.fallbacks if event_type is JobEventType.FALLBACK else product.quotas
    return routes.get(tag)
