"""What the local Cosmos DB engine (devstack/node/cosmos.js) stores and answers, as the azure-cosmos SDK sees
it: time to live, the query clauses and functions users reach first, the change feed and _self links.

One account for the module, with an account key (`devstack.cosmos_gateway.standalone`), so that each
test can create the containers it needs. Each behaviour is Azure Cosmos DB's as Microsoft documents it
(the source is named in the engine's module that implements it: cosmos-ttl.js, cosmos-query.js,
cosmos-query-code.js, cosmos-feed.js).
"""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos import ContainerProxy, CosmosClient, DatabaseProxy, PartitionKey
from azure.cosmos.exceptions import CosmosHttpResponseError, CosmosResourceNotFoundError
from devstack.certs import ensure_certificates
from devstack.cosmos_gateway.standalone import StandaloneAccount, running_account

# The SDK turns certificate checks off for localhost by itself and warns on every request.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

TTL_SECONDS = 1
# Long enough for a TTL_SECONDS item to have expired: _ts has whole seconds.
EXPIRY_WAIT_SECONDS = TTL_SECONDS + 1.5


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StandaloneAccount, str, Path]]:
    folder = tmp_path_factory.mktemp("cosmos-engine")
    certs = ensure_certificates(folder / "certs")
    key = base64.b64encode(secrets.token_bytes(64)).decode()
    with running_account(folder / "account", key=key, certs=certs) as running:
        yield running, key, certs.ca


@pytest.fixture(scope="module")
def database(account: tuple[StandaloneAccount, str, Path]) -> Iterator[DatabaseProxy]:
    running, key, ca = account
    with CosmosClient(running.endpoint, credential=key, connection_verify=str(ca)) as client:
        yield client.create_database("engine")


def new_container(database: DatabaseProxy, path: str = "/pk", **properties: Any) -> ContainerProxy:
    container: ContainerProxy = database.create_container(
        f"c-{uuid.uuid4().hex[:8]}", PartitionKey(path=path), **properties
    )
    return container


def ids(rows: Any) -> list[str]:
    return [row["id"] for row in rows]


# --- time to live -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def expired(database: DatabaseProxy) -> dict[str, ContainerProxy]:
    """Three containers written, then left until their TTL_SECONDS items have expired."""
    containers = {
        "default": new_container(database, default_ttl=TTL_SECONDS),
        "off": new_container(database),
        "opt-in": new_container(database, default_ttl=-1),
    }
    containers["default"].create_item({"id": "plain", "pk": "a"})
    containers["default"].create_item({"id": "forever", "pk": "a", "ttl": -1})
    containers["default"].create_item({"id": "longer", "pk": "a", "ttl": 3600})
    containers["off"].create_item({"id": "asks", "pk": "a", "ttl": TTL_SECONDS})
    containers["opt-in"].create_item({"id": "plain", "pk": "a"})
    containers["opt-in"].create_item({"id": "asks", "pk": "a", "ttl": TTL_SECONDS})
    assert ids(containers["default"].query_items("SELECT * FROM c", partition_key="a")) == [
        "plain",
        "forever",
        "longer",
    ]
    time.sleep(EXPIRY_WAIT_SECONDS)
    return containers


def test_an_item_expires_default_ttl_seconds_after_its_last_write(expired: dict[str, ContainerProxy]) -> None:
    container = expired["default"]

    with pytest.raises(CosmosResourceNotFoundError):
        container.read_item("plain", partition_key="a")
    assert ids(container.query_items("SELECT * FROM c", partition_key="a")) == ["forever", "longer"]
    assert ids(container.query_items("SELECT * FROM c", enable_cross_partition_query=True)) == ["forever", "longer"]
    assert ids(container.query_items_change_feed(start_time="Beginning")) == ["forever", "longer"]
    assert query(container, "SELECT VALUE COUNT(1) FROM c", partition="a") == [2]


def test_an_item_ttl_counts_only_when_the_container_has_a_default_ttl(expired: dict[str, ContainerProxy]) -> None:
    assert expired["off"].read_item("asks", partition_key="a")["ttl"] == TTL_SECONDS
    assert ids(expired["opt-in"].query_items("SELECT * FROM c", partition_key="a")) == ["plain"]


def test_an_expired_id_can_be_created_again(expired: dict[str, ContainerProxy]) -> None:
    container = expired["default"]

    container.create_item({"id": "plain", "pk": "a", "again": True})

    assert container.read_item("plain", partition_key="a")["again"] is True


def test_a_rewrite_restarts_the_clock(database: DatabaseProxy) -> None:
    # `_ts` has whole seconds, so an expiry falls up to a second early: margins of a second or more, on
    # either side, keep this true on a loaded machine. Without the restart the item is gone at 6 s.
    container = new_container(database, default_ttl=6)
    container.create_item({"id": "kept", "pk": "a", "n": 0})
    time.sleep(3.5)

    container.upsert_item({"id": "kept", "pk": "a", "n": 1})
    time.sleep(3.5)

    assert container.read_item("kept", partition_key="a")["n"] == 1


@pytest.mark.parametrize("default_ttl", [0, -10])
def test_a_default_ttl_other_than_minus_one_or_positive_is_400(database: DatabaseProxy, default_ttl: int) -> None:
    with pytest.raises(CosmosHttpResponseError) as refused:
        new_container(database, default_ttl=default_ttl)

    assert refused.value.status_code == 400


# --- queries ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def teams(database: DatabaseProxy) -> ContainerProxy:
    container = new_container(database)
    rows = [
        ("a1", "red", 3, "Alpha"),
        ("a2", "red", 5, "alpine"),
        ("a3", "blue", 1, "Beta"),
        ("a4", "blue", None, "gamma"),
        ("a5", "green", 7, "Delta"),
    ]
    for item_id, team, score, name in rows:
        item: dict[str, Any] = {"id": item_id, "pk": "p", "team": team, "name": name, "value": team}
        if score is not None:
            item["score"] = score
        container.create_item(item)
    return container


def query(container: ContainerProxy, sql: str, *, partition: str = "p", **parameters: Any) -> list[Any]:
    listed = [{"name": f"@{name}", "value": value} for name, value in parameters.items()]
    return list(container.query_items(sql, parameters=listed, partition_key=partition))


def test_order_by_returns_items_without_the_property_first_ascending_last_descending(teams: ContainerProxy) -> None:
    ascending = query(teams, "SELECT VALUE c.id FROM c ORDER BY c.score")
    descending = query(teams, "SELECT VALUE c.id FROM c ORDER BY c.score DESC")

    assert ascending == ["a4", "a3", "a1", "a2", "a5"]
    assert descending == ["a5", "a2", "a1", "a3", "a4"]


def test_order_by_pages_keep_the_items_without_the_property(teams: ContainerProxy) -> None:
    pages = teams.query_items("SELECT c.id FROM c ORDER BY c.score", partition_key="p", max_item_count=1).by_page()

    assert [row["id"] for page in pages for row in page] == ["a4", "a3", "a1", "a2", "a5"]


def test_offset_limit_and_distinct(teams: ContainerProxy) -> None:
    assert query(teams, "SELECT VALUE c.id FROM c ORDER BY c.id OFFSET 1 LIMIT 2") == ["a2", "a3"]
    assert query(teams, "SELECT VALUE c.id FROM c ORDER BY c.id OFFSET @skip LIMIT @take", skip=3, take=5) == [
        "a4",
        "a5",
    ]
    assert query(teams, "SELECT DISTINCT VALUE c.team FROM c ORDER BY c.team") == ["blue", "green", "red"]
    assert query(teams, "SELECT DISTINCT c.team FROM c WHERE c.team = 'red'") == [{"team": "red"}]
    assert query(teams, "SELECT DISTINCT TOP 2 VALUE c.team FROM c ORDER BY c.team DESC") == ["red", "green"]


def test_group_by_with_each_aggregate(teams: ContainerProxy) -> None:
    rows = query(
        teams,
        "SELECT c.team, COUNT(1) AS n, SUM(c.score) AS total, MIN(c.score) AS low, MAX(c.name) AS top, "
        "AVG(c.score) AS mean FROM c GROUP BY c.team",
    )

    by_team = {row["team"]: row for row in rows}
    assert by_team == {
        "red": {"team": "red", "n": 2, "total": 8, "low": 3, "top": "alpine", "mean": 4},
        "blue": {"team": "blue", "n": 2, "total": 1, "low": 1, "top": "gamma", "mean": 1},
        "green": {"team": "green", "n": 1, "total": 7, "low": 7, "top": "Delta", "mean": 7},
    }
    assert sorted(query(teams, "SELECT VALUE COUNT(1) FROM c GROUP BY c.team")) == [1, 2, 2]


def test_like_and_string_functions_that_ignore_case(teams: ContainerProxy) -> None:
    assert query(teams, "SELECT VALUE c.id FROM c WHERE c.name LIKE 'Al%'") == ["a1"]
    assert query(teams, "SELECT VALUE c.id FROM c WHERE c.name LIKE '_eta' OR c.name LIKE @p", p="%mm%") == ["a3", "a4"]
    assert query(teams, "SELECT VALUE c.id FROM c WHERE c.name NOT LIKE '%a'") == ["a2"]
    assert query(teams, "SELECT VALUE c.id FROM c WHERE CONTAINS(c.name, 'ALP', true)") == ["a1", "a2"]
    assert query(teams, "SELECT VALUE c.id FROM c WHERE CONTAINS(c.name, 'ALP')") == []
    assert query(teams, "SELECT VALUE c.id FROM c WHERE STARTSWITH(c.name, 'd', true)") == ["a5"]


def test_properties_named_like_keywords(teams: ContainerProxy) -> None:
    assert query(teams, "SELECT VALUE c.id FROM c WHERE c.value = @value", value="green") == ["a5"]


def test_aggregates_over_nothing(teams: ContainerProxy) -> None:
    everywhere = teams.query_items("SELECT VALUE MAX(c.nothing) FROM c", enable_cross_partition_query=True)

    # Over every partition, the SDK's aggregation answers None (azure-cosmos' test_query.py).
    assert list(everywhere) == [None]
    assert query(teams, "SELECT VALUE COUNT(1) FROM c WHERE c.team = 'none'") == [0]
    assert query(teams, "SELECT VALUE SUM(c.score) FROM c WHERE c.team = 'none'") == [0]


def test_an_aggregate_without_value_over_every_partition_is_400(teams: ContainerProxy) -> None:
    with pytest.raises(CosmosHttpResponseError) as refused:
        list(teams.query_items("SELECT COUNT(1) AS n FROM c", enable_cross_partition_query=True))

    assert refused.value.status_code == 400


# --- change feed, _self links, lsn ---------------------------------------------------------------------


def test_change_feed_of_a_partition_in_modification_order_with_continuations(database: DatabaseProxy) -> None:
    container = new_container(database)
    for item_id, pk in (("one", "a"), ("other", "b"), ("two", "a")):
        container.create_item({"id": item_id, "pk": pk})
    container.upsert_item({"id": "one", "pk": "a", "changed": True})

    first = container.query_items_change_feed(partition_key="a", start_time="Beginning")
    assert ids(first) == ["two", "one"]
    continuation = container.client_connection.last_response_headers["etag"]

    container.create_item({"id": "three", "pk": "a"})
    container.create_item({"id": "elsewhere", "pk": "b"})
    later = container.query_items_change_feed(partition_key="a", continuation=continuation)

    assert ids(later) == ["three"]


def test_change_feed_from_a_point_in_time(database: DatabaseProxy) -> None:
    container = new_container(database)
    container.create_item({"id": "before", "pk": "a"})
    time.sleep(1.1)  # _ts has whole seconds
    start = datetime.now(UTC) - timedelta(milliseconds=50)
    container.create_item({"id": "after", "pk": "a"})

    assert ids(container.query_items_change_feed(start_time=start)) == ["after"]


def test_the_engine_routes_an_items_self_link(
    account: tuple[StandaloneAccount, str, Path], database: DatabaseProxy
) -> None:
    running, _, _ = account
    container = new_container(database)
    item = container.create_item({"id": "by-rid", "pk": "a"})

    host, port = running.engine.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", item["_self"], headers={"x-ms-documentdb-partitionkey": '["a"]'})
        answer = connection.getresponse()
        body = json.loads(answer.read())
    finally:
        connection.close()

    assert answer.status == 200
    assert body["id"] == "by-rid"


def test_each_write_advances_the_lsn_by_one(database: DatabaseProxy) -> None:
    container = new_container(database)
    created = container.create_item({"id": "x", "pk": "a"})
    lsn = int(created.get_response_headers()["lsn"])

    read = container.read_item("x", partition_key="a")
    replaced = container.replace_item("x", {"id": "x", "pk": "a", "n": 1})
    batch = container.execute_item_batch(
        [("create", ({"id": "y", "pk": "a"},)), ("upsert", ({"id": "z", "pk": "a"},))], partition_key="a"
    )

    assert int(read.get_response_headers()["lsn"]) == lsn
    assert int(replaced.get_response_headers()["lsn"]) == lsn + 1
    assert int(batch.get_response_headers()["lsn"]) == lsn + 2
