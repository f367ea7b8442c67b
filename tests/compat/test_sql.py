"""Statement execution's asynchronous mode and result links, and the legacy endpoints name, through the official SDK."""

import json
import time
import urllib.request

import pytest
from databricks.sdk.errors import NotFound
from databricks.sdk.service import sql


def test_async_statements_and_external_links(w):
    warehouse = w.warehouses.create(name="compat-links", cluster_size="2X-Small").result()
    pending = w.statement_execution.execute_statement("SELECT 1 AS one", warehouse.id, wait_timeout="0s")
    assert pending.status.state == sql.StatementState.PENDING
    for _ in range(200):
        done = w.statement_execution.get_statement(pending.statement_id)
        if done.status.state == sql.StatementState.SUCCEEDED:
            break
        time.sleep(0.05)
    assert done.result.data_array == [["1"]]

    linked = w.statement_execution.execute_statement("SELECT 2 AS two", warehouse.id, wait_timeout="10s",
                                                     disposition=sql.Disposition.EXTERNAL_LINKS)
    link = linked.result.external_links[0].external_link
    with urllib.request.urlopen(link) as answer:
        assert json.load(answer) == [["2"]]

    # The legacy name of the same warehouses: /api/2.0/sql/endpoints.
    legacy = w.api_client.do("GET", f"/api/2.0/sql/endpoints/{warehouse.id}")
    assert legacy["id"] == warehouse.id and legacy["name"] == "compat-links"
    assert warehouse.id in [e["id"] for e in w.api_client.do("GET", "/api/2.0/sql/endpoints")["endpoints"]]
    w.api_client.do("DELETE", f"/api/2.0/sql/endpoints/{warehouse.id}")
    with pytest.raises(NotFound):
        w.warehouses.get(warehouse.id)
