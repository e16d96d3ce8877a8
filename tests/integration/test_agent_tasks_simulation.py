"""The demo's simulated agents on the dev server, in real time with a seconds-long strategy: they
work every task through the real worklist and the validated completion, and their promises and
payment agreements reach the collections and the summary."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from activities.channels import SimulatedProvider, SimulatedProviderConfig
from cobranza.agent_simulation import SimulatedAgents
from cobranza.domain import TaskOutcome
from cobranza.simulation import SimulatedDebtors
from cobranza.strategy import Strategy
from cobranza.tasks import task_summary
from tests.integration.support import make_row, running_worker, seed_accounts, start_collection

pytestmark = pytest.mark.integration

SILENT = SimulatedProvider(SimulatedProviderConfig(reply_rate=0.0, failure_rate=0.0))


def seconds_strategy() -> Strategy:
    return Strategy.model_validate(
        {
            "name": "agents-sim",
            "version": "test",
            "promise_max_horizon": "1d",
            "agreement_max_horizon": "2m",
            "steps": [
                {
                    "id": "call",
                    "kind": "agent_task",
                    "task_kind": "call",
                    "sla": "30s",
                    "team": "preventiva",
                },
                {"id": "wait", "kind": "wait", "duration": "1s"},
                {"id": "promise", "kind": "promise_check", "grace": "3s"},
                {"id": "end", "kind": "close", "outcome": "exhausted"},
            ],
        }
    )


async def test_simulated_agents_record_promises_and_agreements_that_debtors_keep(
    dev_env: WorkflowEnvironment, pool: AsyncConnectionPool
) -> None:
    queue = f"sim-{uuid.uuid4().hex[:8]}"
    rows = [make_row(line=n + 2, balance_cop=600_000 + 100_000 * n) for n in range(4)]
    campaign_id = await seed_accounts(pool, rows)
    strategy = seconds_strategy()
    agents = SimulatedAgents(
        dev_env.client,
        pool,
        agents=2,
        call_weights={TaskOutcome.PROMISE_TO_PAY: 1, TaskOutcome.PAYMENT_AGREEMENT: 1},
        promise_after=timedelta(seconds=3),
        installment_every=timedelta(seconds=2),
    )
    debtors = SimulatedDebtors(dev_env.client, pool, keep_rate=1.0)
    async with running_worker(dev_env.client, pool, queue, adapter=SILENT):
        handles = [
            await start_collection(dev_env.client, r, queue, strategy, campaign_id) for r in rows
        ]
        deadline = time.monotonic() + 60
        worked = 0
        while time.monotonic() < deadline:
            worked += await agents.tick(campaign_id)
            await debtors.tick(campaign_id)
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT count(*) FROM collections WHERE campaign_id = %s AND outcome IS NULL",
                    (campaign_id,),
                )
                found = await cur.fetchone()
            if found is not None and found[0] == 0 and worked >= len(rows):
                break
            await asyncio.sleep(0.3)
        results = [await h.result() for h in handles]
    assert [r.outcome.value for r in results] == ["paid"] * len(rows)
    summary = await task_summary(pool, campaign_id)
    assert summary.tasks_by_status == {"completed": len(rows)}
    assert sum(summary.completed_by_outcome.values()) == len(rows)
    assert summary.agent_promises + summary.agreements_registered == len(rows)
    assert summary.agreements_kept == summary.agreements_registered
    assert agents.completed == {TaskOutcome(k): v for k, v in summary.completed_by_outcome.items()}
