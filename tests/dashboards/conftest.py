"""The two engines every SQL test of the dashboards runs on, started once per test session:
a ClickHouse 18.16 server with the schema of `ccx migrate`, and chdb-core with the same DDL, both
holding the rows of dashboards_seed."""

from __future__ import annotations

import os

import pytest

from dashboards_engines import ChdbEngine, Server18
from dashboards_seed import BATCHES, complete


def _chdb_wanted() -> bool:
    return os.environ.get("CCX_DASHBOARDS_SKIP_CHDB") != "1"


@pytest.fixture(scope="session")
def server():
    srv = Server18()
    try:
        srv.start()
        print(f"\nClickHouse {srv.version} on {srv.url}")
        print(srv.migrate())
        # Keep every inserted version in its own part: FINAL, not a background merge, must
        # pick the newest row of each key.
        srv.execute("SYSTEM STOP MERGES")
        for table, rows in BATCHES:
            cols = srv.columns(f"ccx.{table}")
            srv.insert(f"ccx.{table}", [complete(r, cols) for r in rows])
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def current(server):
    if not _chdb_wanted():
        pytest.skip("CCX_DASHBOARDS_SKIP_CHDB=1")
    engine = ChdbEngine()
    try:
        engine.execute("CREATE DATABASE IF NOT EXISTS ccx")
        for statement in server.ddl("ccx"):
            engine.execute(statement)
        engine.execute("SYSTEM STOP MERGES")
        for table, rows in BATCHES:
            cols = server.columns(f"ccx.{table}")
            engine.insert(f"ccx.{table}", [complete(r, cols) for r in rows])
        print(f"\nchdb engine {engine.version}")
        yield engine
    finally:
        engine.close()




@pytest.fixture(params=["18.16", "current"])
def engine(request, server):
    if request.param == "18.16":
        return server
    if not _chdb_wanted():
        pytest.skip("CCX_DASHBOARDS_SKIP_CHDB=1")
    return request.getfixturevalue("current")
