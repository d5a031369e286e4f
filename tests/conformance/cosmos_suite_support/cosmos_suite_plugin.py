"""A pytest plugin for running Microsoft's azure-cosmos suite against the local Cosmos DB server (loaded
with `-p cosmos_suite_plugin` by tests/conformance/test_cosmos_suite.py).

It registers the markers azure-sdk-for-python's pipelines select the suite's tests by (which live in
its root configuration, not in the sdist). Nothing else: the suite's own conftest.py creates its
database and containers with the account key, from ACCOUNT_HOST and ACCOUNT_KEY, and its tests wait
in real time where they wait (the change feed's start time, TTL), so no sleep is shortened.
"""

from __future__ import annotations

import pytest

# Every marker the suite's files use (azure-sdk-for-python, sdk/cosmos/azure-cosmos/pytest.ini).
MARKERS = (
    "cosmosEmulator",
    "cosmosLong",
    "cosmosQuery",
    "cosmosSplit",
    "cosmosMultiRegion",
    "cosmosCircuitBreaker",
    "cosmosCircuitBreakerMultiRegion",
    "cosmosPerPartitionAutomaticFailover",
    "cosmosSearchQuery",
    "cosmosGSI",
    "cosmosAADLong",
    "cosmosAADQuery",
    "cosmosAADSplit",
    "cosmosAADMultiRegion",
    "cosmosAADCircuitBreaker",
    "cosmosAADCircuitBreakerMultiRegion",
    "cosmosAADPerPartitionAutomaticFailover",
    "semanticReranker",
    "unittest",
)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", f"{marker}: a group of azure-cosmos tests")
