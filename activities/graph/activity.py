"""The ``graph`` activity: one Cypher query per job, built from an operation or a named action.

Values always travel as query parameters; labels, relationship types and property keys (which Cypher
cannot parameterize) are checked against a strict identifier pattern before they are written in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import activity

from ductape_jobs.activities.config.product_config import ConfigError, ProductConfig
from ductape_jobs.activities.config.secrets import SecretMissingError, SecretStore
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.activities.graph.backends import GraphBackend, QueryOutcome, open_backend
from ductape_jobs.activities.graph.config import GraphDef, GraphEnv
from ductape_jobs.workflows.contracts.graph import (
    GRAPH_OPERATIONS,
    RUN_GRAPH,
    GraphResult,
    ICreateNode,
    ICreateRelationship,
    IDeleteNode,
    IGraphActionRequest,
    IGraphQuery,
    NodeRef,
)
from ductape_jobs.workflows.contracts.job import EventActivityInput

_M = TypeVar("_M", bound=BaseModel)


class GraphActivities:
    """Graph jobs over clients cached per (graph tag, env); ``aclose`` closes them at worker stop."""

    def __init__(self, config: ProductConfig, secrets: SecretStore) -> None:
        self._config = config
        self._secrets = secrets
        self._backends: dict[tuple[str, str, str], GraphBackend] = {}

    async def aclose(self) -> None:
        backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            await backend.aclose()

    @activity.defn(name=RUN_GRAPH)
    async def run_graph(self, request: EventActivityInput) -> GraphResult:
        """Run the job's operation or named action.

        Raises:
            ApplicationError: INVALID_INPUT (bad input, a refused query, an unsafe name), NOT_FOUND (a
                relationship's end node is missing), CONFIG_ERROR, SECRET_MISSING, never retried;
                CONNECTION_ERROR and TIMEOUT, retried.
        """
        job = request.job
        try:
            graph, env = self._graph(job.product, job.env, job.app, job.event)
            backend = self._backend((job.product, job.app or "", job.env), env)
            if job.event in graph.actions:
                params = _parse(IGraphActionRequest, request.input).params
                outcome = await backend.run(graph.actions[job.event].query, params)
                return _result(job.event, outcome, action=job.event)
            return await _operation(backend, job.event, request.input)
        except JobFailure as err:
            raise err.to_application_error(job.errors) from None

    def _graph(self, product: str, env: str, tag: str | None, event: str) -> tuple[GraphDef, GraphEnv]:
        try:
            graphs = self._config.product(product).graphs
        except ConfigError as err:
            raise JobFailure("CONFIG_ERROR", str(err)) from None
        graph = graphs.get(tag or "")
        if graph is None or env not in graph.envs:
            raise JobFailure("CONFIG_ERROR", f"graph {tag!r} has no settings for env {env!r} in product {product!r}")
        if event not in graph.actions and event not in GRAPH_OPERATIONS:
            raise JobFailure("CONFIG_ERROR", f"graph {tag!r} has no operation or action {event!r}")
        return graph, graph.envs[env]

    def _backend(self, key: tuple[str, str, str], env: GraphEnv) -> GraphBackend:
        backend = self._backends.get(key)
        if backend is None:
            try:
                url = self._secrets.resolve(env.url)
                password = self._secrets.resolve(env.password)
            except SecretMissingError as err:
                raise JobFailure("SECRET_MISSING", str(err)) from None
            backend = self._backends[key] = open_backend(env, url, password)
        return backend


async def _operation(backend: GraphBackend, operation: str, data: dict[str, Any]) -> GraphResult:
    if operation == "query":
        query = _parse(IGraphQuery, data)
        return _result(operation, await backend.run(query.query, query.params))
    if operation == "create_node":
        node = _parse(ICreateNode, data)
        props, params = _properties("p", node.properties)
        cypher = f"CREATE (n:{':'.join(node.labels)}{props}) RETURN n"
        return _result(operation, await backend.run(cypher, params))
    if operation == "create_relationship":
        rel = _parse(ICreateRelationship, data)
        a, a_params = _pattern("a", rel.from_node)
        b, b_params = _pattern("b", rel.to_node)
        props, r_params = _properties("r", rel.properties)
        cypher = f"MATCH {a}, {b} CREATE (a)-[r:{rel.type}{props}]->(b) RETURN a, r, b"
        outcome = await backend.run(cypher, {**a_params, **b_params, **r_params})
        if not outcome.rows:
            raise JobFailure("NOT_FOUND", "no relationship created: the `from` or the `to` node does not exist")
        return _result(operation, outcome)
    node_ref = _parse(IDeleteNode, data)
    pattern, params = _pattern("n", NodeRef(label=node_ref.label, match=node_ref.match))
    return _result(operation, await backend.run(f"MATCH {pattern} DETACH DELETE n", params))


def _pattern(alias: str, ref: NodeRef) -> tuple[str, dict[str, Any]]:
    """``(a:Label {key: $a_key})`` and its parameters."""
    props, params = _properties(alias, ref.match)
    label = f":{ref.label}" if ref.label else ""
    return f"({alias}{label}{props})", params


def _properties(prefix: str, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """`` {key: $prefix_key, ...}`` and its parameters (keys were checked as identifiers)."""
    if not values:
        return "", {}
    params = {f"{prefix}_{key}": value for key, value in values.items()}
    return " {" + ", ".join(f"{key}: ${prefix}_{key}" for key in values) + "}", params


def _parse(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in err.errors(include_url=False)
        )
        raise JobFailure("INVALID_INPUT", f"graph input: {problems}") from None


def _result(operation: str, outcome: QueryOutcome, *, action: str | None = None) -> GraphResult:
    return GraphResult(
        operation="action" if action else operation, action=action, rows=outcome.rows, **outcome.counters
    )
