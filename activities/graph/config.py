"""The ``graphs`` section of a product: where each graph database lives per env, and its named queries.

```yaml
graphs:
  social:
    envs:
      dev: {kind: falkordb, url: "redis://127.0.0.1:6380", graph: social}
      prd: {kind: neo4j, url: "neo4j+s://db.example.com", database: neo4j,
            username: neo4j, password: $Secret{NEO4J_PASSWORD}}           # Neo4j or Memgraph (Bolt)
    actions:
      friends_of: {query: "MATCH (:User {id: $id})-[:FRIEND]->(f:User) RETURN f.id AS id"}
```

A job's ``event`` is a named action or an operation (``create_node``, ``create_relationship``,
``query``, ``delete_node``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ductape_jobs.activities.config.component_lookup import refuse_operation_names
from ductape_jobs.workflows.contracts.graph import GRAPH_OPERATIONS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GraphEnv(_Strict):
    """Where a graph lives in one environment."""

    kind: Literal["falkordb", "neo4j"]
    """``falkordb`` (the Redis protocol) or ``neo4j`` (Bolt: Neo4j, Memgraph)."""
    url: str = Field(min_length=1)
    """``redis://host:port`` for FalkorDB, ``neo4j://``/``bolt://`` (``+s`` for TLS) for Bolt servers."""
    graph: str = "default"
    """FalkorDB: the graph (key) name."""
    database: str | None = None
    """Bolt: the database name (the server's default when absent)."""
    username: str | None = None
    password: str | None = None
    """Write it as ``$Secret{NAME}``."""
    timeout_ms: int = Field(30_000, ge=1)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        schemes = ("redis://", "rediss://", "neo4j://", "neo4j+s://", "bolt://", "bolt+s://", "$Secret{")
        if not value.startswith(schemes):
            raise ValueError("must be a redis://, neo4j:// or bolt:// URL (or a $Secret{...})")
        return value


class GraphActionDef(_Strict):
    """A named Cypher query; the job's ``params`` are its ``$name`` parameters."""

    query: str = Field(min_length=1)


class GraphDef(_Strict):
    envs: dict[str, GraphEnv] = Field(min_length=1)
    actions: dict[str, GraphActionDef] = Field(default_factory=dict)

    @field_validator("actions")
    @classmethod
    def _no_shadowing(cls, value: dict[str, GraphActionDef]) -> dict[str, GraphActionDef]:
        refuse_operation_names(value, GRAPH_OPERATIONS)
        return value
