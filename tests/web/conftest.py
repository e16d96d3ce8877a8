"""Fixtures for the web console tests: the server, its worker, users and an account with a task."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from cobranza.settings import Settings
from cobranza.tasks import TaskRow
from cobranza.web.users import Role, add_user, create_token, parse_scopes
from tests.integration.support import running_worker, server_address
from tests.integration.test_agent_tasks_support import pending_task, start_account, task_strategy
from tests.web.support import PASSWORD, TEAM, USERS, WebServer, free_port

ROLES = {
    "ops": Role.OPS,
    "agent": Role.AGENT,
    "other_agent": Role.AGENT,
    "supervisor": Role.SUPERVISOR,
    "auditor": Role.AUDITOR,
    "admin": Role.ADMIN,
}
TEAMS = {"agent": TEAM, "other_agent": "juridica", "supervisor": "supervision"}


@pytest_asyncio.fixture(scope="module")
async def web_queue(dev_env: WorkflowEnvironment, pool: AsyncConnectionPool) -> AsyncIterator[str]:
    """A worker on the dev server for the accounts these tests start."""
    queue = "web-tests"
    async with running_worker(dev_env.client, pool, queue):
        yield queue


@pytest_asyncio.fixture(scope="module")
async def web_users(pool: AsyncConnectionPool) -> dict[str, str]:
    for key, username in USERS.items():
        team = TEAMS.get(key)
        await add_user(
            pool,
            username=username,
            role=ROLES[key],
            password=PASSWORD,
            team=team,
            full_name=f"Usuario {key}" if team else None,
        )
    return USERS


@pytest.fixture(scope="module")
def web(
    dev_env: WorkflowEnvironment,
    database_url: str,
    web_queue: str,
    web_users: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WebServer]:
    settings = Settings(
        temporal_address=server_address(dev_env.client),
        task_queue=web_queue,
        database_url=database_url,
        state_dir=tmp_path_factory.mktemp("web-state"),
        web_port=free_port(),
        web_secret="test-secret-not-for-production",
    )
    server = WebServer.start(settings)
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module")
async def tokens(pool: AsyncConnectionPool) -> dict[str, str]:
    """Bearer tokens: one that may only post payments, one with every token scope."""
    import uuid

    suffix = uuid.uuid4().hex[:6]
    _, payments = await create_token(
        pool, name=f"pasarela-{suffix}", scopes=parse_scopes("payments:write")
    )
    _, everything = await create_token(
        pool,
        name=f"integracion-{suffix}",
        scopes=parse_scopes(
            "accounts:read,payments:write,tasks:read,campaigns:read,campaigns:write,audit:read"
        ),
    )
    return {"payments": payments, "all": everything}


@dataclass
class AccountWithTask:
    account_id: str
    balance_cop: int
    task: TaskRow
    handle: WorkflowHandle[Any, Any]


async def account_with_task(
    dev_env: WorkflowEnvironment, pool: AsyncConnectionPool, queue: str
) -> AccountWithTask:
    """A new collection whose first step is a call task for the test team."""
    row, handle = await start_account(dev_env, pool, queue, task_strategy(), balance_cop=1_200_000)
    task = await pending_task(pool, row.account_id)
    return AccountWithTask(row.account_id, row.balance_cop, task, handle)
