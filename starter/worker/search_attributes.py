"""Registering the Ductape search attributes on a namespace (idempotent)."""

from __future__ import annotations

import logging

import temporalio.api.enums.v1 as enums
import temporalio.api.operatorservice.v1 as operator
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.service import RPCError

from ductape_jobs.workflows.names import SEARCH_ATTRIBUTES

log = logging.getLogger(__name__)


def dev_server_flags() -> list[str]:
    """``--search-attribute Name=Type`` flags for ``temporal server start-dev``."""
    kinds = {
        SearchAttributeIndexedValueType.KEYWORD: "Keyword",
        SearchAttributeIndexedValueType.DATETIME: "Datetime",
        SearchAttributeIndexedValueType.INT: "Int",
    }
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{key.name}={kinds[key.indexed_value_type]}"]
    return flags


async def ensure_search_attributes(client: Client) -> list[str]:
    """Add the missing Ductape search attributes; returns the names added.

    Where the operator API is not allowed (Temporal Cloud), logs a warning and returns ``[]``:
    there the attributes are created in the Cloud UI or with ``tcld``.
    """
    try:
        listed = await client.operator_service.list_search_attributes(
            operator.ListSearchAttributesRequest(namespace=client.namespace)
        )
        missing = {
            key.name: enums.IndexedValueType.ValueType(int(key.indexed_value_type))
            for key in SEARCH_ATTRIBUTES
            if key.name not in listed.custom_attributes
        }
        if missing:
            await client.operator_service.add_search_attributes(
                operator.AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
            )
        return sorted(missing)
    except RPCError as err:
        log.warning("could not register search attributes (%s); create them on the server", err.message)
        return []
