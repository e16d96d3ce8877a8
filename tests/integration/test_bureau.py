"""Credit-bureau reports only after the prior notice (Ley 1266 mod. Ley 2157), in the workflow."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from activities.channels import SimulatedProvider, SimulatedProviderConfig
from cobranza.domain import BOGOTA
from cobranza.models import CollectionInput, workflow_id_for
from cobranza.strategy import Strategy
from tests.integration.support import log_rows, make_row, running_worker, seed_accounts
from workflows.collection import CollectionWorkflow

pytestmark = pytest.mark.integration

SILENT = SimulatedProvider(SimulatedProviderConfig(reply_rate=0.0, failure_rate=0.0))


def bureau_strategy(*steps: dict[str, object]) -> Strategy:
    return Strategy.model_validate(
        {
            "name": "bureau",
            "version": "1",
            "steps": [*steps, {"id": "end", "kind": "close", "outcome": "exhausted"}],
        }
    )


async def run(
    env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    queue: str,
    strategy: Strategy,
    balance: int,
    authorized: bool = True,
) -> list[dict[str, Any]]:
    row = make_row(balance_cop=balance)
    await seed_accounts(pool, [row])
    async with running_worker(env.client, pool, queue, adapter=SILENT):
        handle = await env.client.start_workflow(
            CollectionWorkflow.run,
            CollectionInput(
                account_id=row.account_id,
                strategy=strategy,
                balance_cop=balance,
                days_past_due=40,
                product=row.product,
                bureau_authorized=authorized,
            ),
            id=workflow_id_for(row.account_id),
            task_queue=queue,
        )
        await handle.result()
    return await log_rows(pool, row.account_id)


async def test_report_waits_out_the_20_day_notice_period(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    strategy = bureau_strategy(
        {"id": "notice", "kind": "bureau_notice"},
        {"id": "wait", "kind": "wait", "duration": "19d"},
        {"id": "report", "kind": "bureau_report"},
    )
    rows = await run(ts_env, pool, task_queue, strategy, balance=2_000_000)
    by_kind = {r["kind"]: r for r in rows}
    notice_at = by_kind["bureau_notice"]["occurred_at"]
    deferred = by_kind["bureau_report_deferred"]
    report = by_kind["bureau_report"]
    # At 19 days the report is held back, with the rule named and when it may go.
    assert (deferred["occurred_at"] - notice_at).days == 19
    assert deferred["detail"]["rule"].startswith("ley1266")
    assert "20" in deferred["detail"]["reason"]
    # At 20 calendar days (Bogota dates: a notice on 03-02 allows a report on 03-22) it goes.
    notice_day = notice_at.astimezone(BOGOTA).date()
    assert (report["occurred_at"].astimezone(BOGOTA).date() - notice_day).days == 20
    assert (deferred["occurred_at"].astimezone(BOGOTA).date() - notice_day).days == 19
    not_before = datetime.fromisoformat(deferred["detail"]["not_before"])
    assert abs(report["occurred_at"] - not_before) < timedelta(seconds=1)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT kind FROM bureau_messages WHERE account_id = %s ORDER BY at",
            (rows[0]["account_id"],),
        )
        assert [k for (k,) in await cur.fetchall()] == ["notice", "report"]


async def test_small_debt_with_one_notice_is_refused(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    strategy = bureau_strategy(
        {"id": "notice", "kind": "bureau_notice"},
        {"id": "wait", "kind": "wait", "duration": "25d"},
        {"id": "report", "kind": "bureau_report"},
    )
    # At most 15% of the 2026 SMLMV (COP 262,635.75): two notices on different days are needed.
    rows = await run(ts_env, pool, task_queue, strategy, balance=200_000)
    kinds = [r["kind"] for r in rows]
    assert "bureau_report" not in kinds
    refused = next(r for r in rows if r["kind"] == "bureau_report_refused")
    assert "dos" in refused["detail"]["reason"] or "2" in refused["detail"]["reason"]


async def test_report_without_authorization_is_refused(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    strategy = bureau_strategy(
        {"id": "notice", "kind": "bureau_notice"},
        {"id": "wait", "kind": "wait", "duration": "21d"},
        {"id": "report", "kind": "bureau_report"},
    )
    rows = await run(ts_env, pool, task_queue, strategy, balance=2_000_000, authorized=False)
    refused = next(r for r in rows if r["kind"] == "bureau_report_refused")
    assert refused["detail"]["rule"] == "ley1266.authorization"
    assert "bureau_report" not in [r["kind"] for r in rows]
