"""Helpers (no tests) for the agent task tests: a short strategy with a human task first, agents,
and polling the worklist while activities run in real time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from cobranza.domain import TaskOutcome
from cobranza.models import CompletionReceipt, TaskCompletion
from cobranza.portfolio import PortfolioRow
from cobranza.strategy import Strategy
from cobranza.tasks import TaskRow, add_agent, claim_task, complete_task, list_tasks
from tests.integration.support import make_row, seed_accounts, start_collection
from workflows.collection import CollectionWorkflow

T = TypeVar("T")

AGENT = "gestor-1"
OTHER_AGENT = "gestor-2"
SUPERVISOR = "super-1"


def task_strategy(name: str = "agent-tasks", **task: Any) -> Strategy:
    """A human call task first (so it opens at once, whatever the contact windows), then the
    rest of a small strategy: SMS, wait, promise check, escalation, email, wait, close."""
    step = {
        "id": "call",
        "kind": "agent_task",
        "task_kind": "call",
        "sla": "1d",
        "team": "preventiva",
        "on_sla_expiry": "reassign",
        "max_reassignments": 1,
        **task,
    }
    return Strategy.model_validate(
        {
            "name": name,
            "version": "test",
            "promise_max_horizon": "30d",
            "agreement_max_horizon": "120d",
            "supervisor_sla": "2d",
            "steps": [
                step,
                {"id": "sms", "kind": "contact", "channel": "sms", "template": "preventiva_x"},
                {"id": "wait-1", "kind": "wait", "duration": "3d"},
                {"id": "promise", "kind": "promise_check", "grace": "2d"},
                {"id": "to-adm", "kind": "escalate", "to_stage": "administrativa"},
                {"id": "email", "kind": "contact", "channel": "email", "template": "adm_x"},
                {"id": "wait-2", "kind": "wait", "duration": "5d"},
                {"id": "end", "kind": "close", "outcome": "exhausted"},
            ],
        }
    )


async def ensure_agents(pool: AsyncConnectionPool) -> None:
    await add_agent(pool, agent_id=AGENT, full_name="Laura Gómez", team="preventiva")
    await add_agent(pool, agent_id=OTHER_AGENT, full_name="Andrés Ruiz", team="preventiva")
    await add_agent(
        pool, agent_id=SUPERVISOR, full_name="Marta Díaz", team="supervision", role="supervisor"
    )


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 15.0) -> T:
    """Poll until `check` returns something truthy (activities run in real time)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def start_account(
    env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    task_queue: str,
    strategy: Strategy,
    balance_cop: int = 1_000_000,
) -> tuple[PortfolioRow, WorkflowHandle[Any, Any]]:
    row = make_row(balance_cop=balance_cop)
    campaign_id = await seed_accounts(pool, [row])
    handle = await start_collection(
        env.client, row, task_queue, strategy=strategy, campaign_id=campaign_id
    )
    return row, handle


async def pending_task(
    pool: AsyncConnectionPool, account_id: str, kind: str | None = None, timeout: float = 15.0
) -> TaskRow:
    """The account's open or claimed task (of `kind`), once its row is written."""

    async def find() -> TaskRow | None:
        async with pool.connection() as conn:
            cur = await conn.execute(
                """SELECT task_id FROM agent_tasks WHERE account_id = %s
                   AND status IN ('open', 'claimed') AND (%s::text IS NULL OR kind = %s)
                   ORDER BY created_at DESC LIMIT 1""",
                (account_id, kind, kind),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        tasks = await list_tasks(pool, statuses=("open", "claimed"))
        return next((t for t in tasks if t.task_id == row[0]), None)

    return await eventually(find, timeout)


async def work(
    env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    task: TaskRow,
    outcome: TaskOutcome,
    agent: str = AGENT,
    **fields: Any,
) -> CompletionReceipt:
    """Claim and complete through the same code path as the CLI."""
    await claim_task(pool, task.task_id, agent, now=await env.get_current_time())
    return await complete_task(
        env.client,
        pool,
        TaskCompletion(task_id=task.task_id, agent_id=agent, outcome=outcome, **fields),
    )


async def log(pool: AsyncConnectionPool, account_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT seq, kind, stage, detail FROM collection_log WHERE account_id = %s ORDER BY id",
            (account_id,),
        )
        return list(await cur.fetchall())


async def kinds_of(pool: AsyncConnectionPool, account_id: str) -> list[str]:
    return [str(r["kind"]) for r in await log(pool, account_id)]


async def has_kind(pool: AsyncConnectionPool, account_id: str, kind: str) -> bool:
    return kind in await kinds_of(pool, account_id)


async def task_row(pool: AsyncConnectionPool, task_id: str) -> dict[str, Any]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM agent_tasks WHERE task_id = %s", (task_id,))
        row = await cur.fetchone()
    assert row is not None
    return row


async def status_of(handle: WorkflowHandle[Any, Any]) -> Any:
    return await handle.query(CollectionWorkflow.status)


async def advance(env: WorkflowEnvironment, days: float) -> None:
    await env.sleep(timedelta(days=days))


async def skip_until(
    env: WorkflowEnvironment,
    check: Callable[[], Awaitable[bool]],
    *,
    step: timedelta = timedelta(hours=1),
    limit: timedelta = timedelta(days=6),
) -> None:
    """Skip workflow time an hour at a time until `check` holds: a contact may wait for the
    legal window (nights, Sundays, holidays), so no test assumes when it goes out."""
    skipped = timedelta()
    while not await check():
        if skipped >= limit:
            raise AssertionError(f"condition not reached within {limit} of workflow time")
        await env.sleep(step)
        skipped += step
