"""Data contracts of the ``graph`` event type (``ductape.graphs``): operation inputs and the result.

Labels, relationship types and property keys cannot be query parameters in Cypher, so they are
checked against ``IDENTIFIER`` instead; every value travels as a parameter. Imports only pydantic.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

GraphOperation = Literal["create_node", "create_relationship", "query", "delete_node"]
GRAPH_OPERATIONS: tuple[GraphOperation, ...] = ("create_node", "create_relationship", "query", "delete_node")

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
"""What a label, a relationship type or a property key may be: written into Cypher, never quoted."""


def check_identifier(value: str) -> str:
    """Raises: ValueError when ``value`` could not be written into Cypher safely."""
    if not IDENTIFIER.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid name (letters, digits and _, not starting with a digit)")
    return value


RUN_GRAPH = "ductape.run_graph"
"""The activity that runs a ``graph`` job."""


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _keys(value: dict[str, Any]) -> dict[str, Any]:
    for key in value:
        check_identifier(key)
    return value


class NodeRef(_Input):
    """A node found by label and exact property values (``{label: "User", match: {id: "u-1"}}``)."""

    label: str | None = None
    match: dict[str, Any] = Field(min_length=1)

    _label = field_validator("label")(lambda v: None if v is None else check_identifier(v))
    _match = field_validator("match")(_keys)


class ICreateNode(_Input):
    labels: list[str] = Field(min_length=1)
    properties: dict[str, Any] = Field(default_factory=dict)

    _labels = field_validator("labels")(lambda v: [check_identifier(x) for x in v])
    _properties = field_validator("properties")(_keys)


class ICreateRelationship(_Input):
    """A relationship between two existing nodes; fails when either is missing."""

    from_node: NodeRef = Field(alias="from")
    to_node: NodeRef = Field(alias="to")
    type: str
    properties: dict[str, Any] = Field(default_factory=dict)

    _type = field_validator("type")(check_identifier)
    _properties = field_validator("properties")(_keys)


class IGraphQuery(_Input):
    """A Cypher query with its parameters (``$name`` in the query)."""

    query: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class IDeleteNode(NodeRef):
    """Delete the matching nodes and their relationships (``DETACH DELETE``)."""


class IGraphActionRequest(_Input):
    """Input of a named action of the config: the parameters of its Cypher query."""

    params: dict[str, Any] = Field(default_factory=dict)


class GraphResult(BaseModel):
    """What a graph job returns: the rows (JSON-safe: nodes and relationships as objects) and counters."""

    operation: str
    action: str | None = None
    rows: list[dict[str, Any]] = Field(default_factory=list)
    nodes_created: int = 0
    nodes_deleted: int = 0
    relationships_created: int = 0
    relationships_deleted: int = 0
    properties_set: int = 0
