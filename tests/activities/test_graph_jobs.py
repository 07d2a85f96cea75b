"""Graph jobs end to end: ``ductape.graphs.dispatch`` on the real dev server and worker, against a real
FalkorDB server, read back with FalkorDB's own client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from falkordb.asyncio import FalkorDB
from temporalio.testing import WorkflowEnvironment

from ductape_jobs import Ductape, JobFailedError, JobInputError
from ductape_jobs.activities.config.product_config import ProductConfig, parse_product_config
from ductape_jobs.activities.config.secrets import SecretStore
from tests.support.falkordb_server import falkordb_url
from tests.support.workers import job_worker

FRIENDS = "MATCH (:User {id: $id})-[:FRIEND]->(f:User) RETURN f.id AS id, f.name AS name ORDER BY id"


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async for value in falkordb_url():
        yield value


def config_for(url: str, graph: str = "social") -> ProductConfig:
    env = {"kind": "falkordb", "url": url, "graph": graph, "timeout_ms": 2000}
    return parse_product_config(
        {"products": {"shop": {"envs": ["dev", "prd"], "graphs": {
            "social": {"envs": {"dev": env}, "actions": {"friends_of": {"query": FRIENDS}}}}}}}
    )  # fmt: skip


@pytest.fixture
async def ductape(dev_env: WorkflowEnvironment, url: str, task_queue: str) -> AsyncIterator[Ductape]:
    config = config_for(url)
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore({})):
        yield Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore({}))


async def run(ductape: Ductape, operation_or_event: dict[str, str], data: dict[str, Any], **extra: Any) -> Any:
    job = await ductape.graphs.dispatch(
        {"product": "shop", "env": "dev", "graph": "social", **operation_or_event, "input": data, **extra}
    )
    return await ductape.jobs.result(job.job_id)


async def rows(url: str, query: str) -> list[list[Any]]:
    db = FalkorDB.from_url(url)
    try:
        return list((await db.select_graph("social").query(query)).result_set)
    finally:
        await db.connection.aclose()


async def test_nodes_and_a_relationship_are_created_and_a_query_returns_them(ductape: Ductape, url: str) -> None:
    for user, name in (("u-1", "Ada"), ("u-2", "Grace")):
        created = await run(ductape, {"operation": "create_node"},
                            {"labels": ["User"], "properties": {"id": user, "name": name}})  # fmt: skip
        assert created["nodes_created"] == 1
    ends = {"from": {"label": "User", "match": {"id": "u-1"}}, "to": {"label": "User", "match": {"id": "u-2"}}}
    linked = await run(ductape, {"operation": "create_relationship"},
                       {**ends, "type": "FRIEND", "properties": {"since": 2026}})  # fmt: skip
    assert linked["relationships_created"] == 1
    assert linked["rows"][0]["r"] == {"type": "FRIEND", "properties": {"since": 2026}}

    # The named action (parameterized Cypher from the config) and an independent reader agree.
    friends = await run(ductape, {"event": "friends_of"}, {"params": {"id": "u-1"}})
    assert friends["rows"] == [{"id": "u-2", "name": "Grace"}]
    assert await rows(url, "MATCH (a:User)-[r:FRIEND]->(b:User) RETURN a.id, b.id, r.since") == [["u-1", "u-2", 2026]]
    queried = await run(ductape, {"operation": "query"},
                        {"query": "MATCH (u:User) RETURN count(u) AS users", "params": {}})  # fmt: skip
    assert queried["rows"] == [{"users": 2}]


async def test_delete_node_removes_it_with_its_relationships(ductape: Ductape, url: str) -> None:
    await run(ductape, {"operation": "query"},
              {"query": "CREATE (:User {id: 'a'})-[:FRIEND]->(:User {id: 'b'})", "params": {}})  # fmt: skip
    deleted = await run(ductape, {"operation": "delete_node"}, {"label": "User", "match": {"id": "a"}})
    assert (deleted["nodes_deleted"], deleted["relationships_deleted"]) == (1, 1)
    assert await rows(url, "MATCH (u:User) RETURN u.id") == [["b"]]


async def test_values_are_parameters_and_unsafe_names_are_refused(ductape: Ductape, url: str) -> None:
    sneaky = "x'}) DETACH DELETE n //"
    await run(ductape, {"operation": "create_node"}, {"labels": ["User"], "properties": {"id": sneaky}})
    assert await rows(url, "MATCH (u:User) RETURN u.id") == [[sneaky]]  # stored verbatim, nothing deleted
    for data in (
        {"labels": ["User) DETACH DELETE (n"], "properties": {}},
        {"labels": ["User"], "properties": {"id} ) MATCH (m) DETACH DELETE m //": 1}},
    ):
        job = await ductape.graphs.dispatch({"product": "shop", "env": "dev", "graph": "social",
                                             "operation": "create_node", "input": data, "retries": 3})  # fmt: skip
        with pytest.raises(JobFailedError) as failed:
            await ductape.jobs.result(job.job_id)
        assert failed.value.error_type == "INVALID_INPUT"
        assert "not a valid name" in failed.value.message
        assert (await ductape.jobs.get(job.job_id)).retry_count == 0
    assert await rows(url, "MATCH (u:User) RETURN u.id") == [[sneaky]]


async def test_a_relationship_to_a_missing_node_is_not_found(ductape: Ductape) -> None:
    job = await ductape.graphs.dispatch({"product": "shop", "env": "dev", "graph": "social",
                                         "operation": "create_relationship", "input": {
                                             "from": {"match": {"id": "nobody"}}, "to": {"match": {"id": "no-one"}},
                                             "type": "FRIEND"}})  # fmt: skip
    with pytest.raises(JobFailedError) as failed:
        await ductape.jobs.result(job.job_id)
    assert failed.value.error_type == "NOT_FOUND"


async def test_an_unreachable_server_is_a_retried_connection_error(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    config = config_for("redis://127.0.0.1:9")
    async with job_worker(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore({})):
        ductape = Ductape(dev_env.client, task_queue=task_queue, config=config, secrets=SecretStore({}))
        job = await ductape.graphs.dispatch({"product": "shop", "env": "dev", "graph": "social", "operation": "query",
                                             "input": {"query": "RETURN 1"}, "retries": 1,
                                             "retry": {"initialDelay": 100}})  # fmt: skip
        with pytest.raises(JobFailedError) as failed:
            await ductape.jobs.result(job.job_id)
        assert failed.value.error_type == "CONNECTION_ERROR"
        assert (await ductape.jobs.get(job.job_id)).retry_count == 1


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"graph": "nope"}, "graph", "graph 'nope' is not in the product"),
        ({"env": "prd"}, "env", "graph 'social' has no settings for env 'prd'"),
        ({"operation": "teleport"}, "event", "no operation or action 'teleport'"),
    ],
)
def test_dispatch_checks_graph_env_and_operation(change: dict[str, str], field: str, reason: str) -> None:
    from ductape_jobs.planning.plan import JobPlanner

    planner = JobPlanner(task_queue="tq", config=config_for("redis://127.0.0.1:6379"), secrets=SecretStore({}))
    data = {"product": "shop", "env": "dev", "graph": "social", "operation": "query", "input": {}} | change
    with pytest.raises(JobInputError) as err:
        planner.plan("graphs", data)
    assert err.value.field == field
    assert reason in err.value.reason


def test_config_refuses_an_action_named_like_an_operation() -> None:
    from ductape_jobs.activities.config.product_config import ConfigError

    with pytest.raises(ConfigError, match="has the name of an operation"):
        parse_product_config(
            {
                "products": {
                    "p": {
                        "envs": ["dev"],
                        "graphs": {
                            "g": {
                                "envs": {"dev": {"kind": "falkordb", "url": "redis://x"}},
                                "actions": {"query": {"query": "RETURN 1"}},
                            }
                        },
                    }
                }
            }
        )
