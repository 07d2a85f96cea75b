"""Graph servers behind one small interface: FalkorDB (Redis protocol) and Bolt (Neo4j, Memgraph).

Each runs one Cypher query with parameters and reports rows (JSON-safe) and counters; errors are
classified here so the activity reports them the same way whatever the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Protocol

import redis.asyncio
import redis.exceptions
from falkordb.asyncio.graph import AsyncGraph
from falkordb.edge import Edge
from falkordb.node import Node
from falkordb.path import Path as FalkorPath

from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.activities.graph.config import GraphEnv


@dataclass
class QueryOutcome:
    rows: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)


class GraphBackend(Protocol):
    async def run(self, query: str, params: Mapping[str, Any]) -> QueryOutcome: ...

    async def aclose(self) -> None: ...


def json_value(value: Any) -> Any:
    """A value of a result row in JSON terms: nodes and relationships become objects."""
    if isinstance(value, Node):
        return {"labels": list(value.labels or []), "properties": json_value(value.properties)}
    if isinstance(value, Edge):
        return {"type": value.relation, "properties": json_value(value.properties)}
    if isinstance(value, FalkorPath):
        return {"nodes": [json_value(n) for n in value.nodes()], "edges": [json_value(e) for e in value.edges()]}
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if hasattr(value, "labels") and hasattr(value, "items"):  # a Bolt node
        return {"labels": sorted(value.labels), "properties": dict(value.items())}
    if hasattr(value, "type") and hasattr(value, "items"):  # a Bolt relationship
        return {"type": value.type, "properties": dict(value.items())}
    return value


_FALKOR_COUNTERS = {
    "nodes_created": "nodes_created",
    "nodes_deleted": "nodes_deleted",
    "relationships_created": "relationships_created",
    "relationships_deleted": "relationships_deleted",
    "properties_set": "properties_set",
}


class FalkorBackend:
    """One graph (key) of a FalkorDB server."""

    def __init__(self, env: GraphEnv, url: str, password: str | None) -> None:
        # Our own async connection: falkordb's FalkorDB() constructor makes a blocking INFO call,
        # which would stall the worker's event loop (and fail the attempt outside our error mapping).
        self._connection = redis.asyncio.Redis.from_url(
            url,
            username=env.username,
            password=password,
            decode_responses=True,
            socket_connect_timeout=env.timeout_ms / 1000,
            socket_timeout=env.timeout_ms / 1000,
        )
        self._graph = AsyncGraph(self._connection, env.graph)

    async def run(self, query: str, params: Mapping[str, Any]) -> QueryOutcome:
        try:
            result = await self._graph.query(query, dict(params))
        except (redis.exceptions.ConnectionError, OSError) as err:
            raise JobFailure("CONNECTION_ERROR", f"FalkorDB is not reachable: {type(err).__name__}") from None
        except redis.exceptions.TimeoutError:
            raise JobFailure("TIMEOUT", "FalkorDB did not answer in time") from None
        except redis.exceptions.ResponseError as err:
            raise JobFailure("INVALID_INPUT", f"FalkorDB refused the query: {str(err).splitlines()[0]}") from None
        names = [column[1] if isinstance(column, list | tuple) else str(column) for column in result.header]
        rows = [dict(zip(names, (json_value(v) for v in record), strict=False)) for record in result.result_set]
        counters = {ours: int(getattr(result, theirs)) for ours, theirs in _FALKOR_COUNTERS.items()}
        return QueryOutcome(rows=rows, counters=counters)

    async def aclose(self) -> None:
        await self._connection.aclose()


class BoltBackend:
    """A Neo4j or Memgraph database over Bolt (the neo4j driver).

    Not exercised by this repository's tests: no Bolt server can run on the machines they run on.
    """

    def __init__(self, env: GraphEnv, url: str, password: str | None) -> None:
        from neo4j import AsyncGraphDatabase  # imported on use: only Bolt configs need it

        auth = (env.username or "", password or "") if env.username or password else None
        self._driver = AsyncGraphDatabase.driver(url, auth=auth, connection_timeout=env.timeout_ms / 1000)
        self._database = env.database
        self._timeout = env.timeout_ms / 1000

    async def run(self, query: str, params: Mapping[str, Any]) -> QueryOutcome:
        import neo4j.exceptions as errors

        try:
            async with self._driver.session(database=self._database) as session:
                result = await asyncio.wait_for(session.run(query, dict(params)), self._timeout)
                rows = [
                    dict(zip(record.keys(), map(json_value, record.values()), strict=True)) async for record in result
                ]
                summary = await result.consume()
        except (errors.ServiceUnavailable, OSError) as err:
            raise JobFailure("CONNECTION_ERROR", f"the graph server is not reachable: {type(err).__name__}") from None
        except TimeoutError:
            raise JobFailure("TIMEOUT", f"the graph server did not answer in {self._timeout:g} s") from None
        except errors.TransientError as err:
            raise JobFailure("SERVER_ERROR", f"transient graph error: {err.code}") from None
        except errors.ClientError as err:
            raise JobFailure("INVALID_INPUT", f"the graph server refused the query: {err.code}") from None
        c = summary.counters
        counters = {
            "nodes_created": c.nodes_created, "nodes_deleted": c.nodes_deleted,
            "relationships_created": c.relationships_created, "relationships_deleted": c.relationships_deleted,
            "properties_set": c.properties_set,
        }  # fmt: skip
        return QueryOutcome(rows=rows, counters=counters)

    async def aclose(self) -> None:
        await self._driver.close()


def open_backend(env: GraphEnv, url: str, password: str | None) -> GraphBackend:
    """The backend of ``env`` (``url`` and ``password`` with their secrets resolved)."""
    if env.kind == "falkordb":
        return FalkorBackend(env, url, password)
    return BoltBackend(env, url, password)
