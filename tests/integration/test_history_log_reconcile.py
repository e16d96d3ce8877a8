"""Every step in the Temporal history has exactly one `collection_log` row, and every row its step.

One account runs a short strategy on the time-skipping server with a promise, a partial payment
and a pause/resume, so steps come from the main loop and from signal handlers alike.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from activities.channels import SimulatedProvider, SimulatedProviderConfig
from cobranza.audit.history import fetch_account_history
from cobranza.audit.logrows import fetch_rows
from cobranza.audit.reconcile import history_steps, reconcile
from cobranza.models import ControlRequest, PaymentReceived, PromiseToPay
from tests.integration.audit_support import short_strategy
from tests.integration.support import make_row, running_worker, seed_accounts, start_collection
from workflows.collection import CollectionWorkflow

pytestmark = pytest.mark.integration

SILENT = SimulatedProvider(SimulatedProviderConfig(reply_rate=0.0, failure_rate=0.0))


async def test_each_history_step_has_one_row_with_the_same_content(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    row = make_row(balance_cop=1_000_000)
    await seed_accounts(pool, [row])
    strategy = short_strategy(wait="2h", grace="1h")
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        handle = await start_collection(ts_env.client, row, task_queue, strategy=strategy)
        now = await ts_env.get_current_time()
        await handle.signal(
            CollectionWorkflow.promise_registered,
            PromiseToPay(amount_cop=300_000, due_at=now + timedelta(minutes=30)),
        )
        await handle.signal(CollectionWorkflow.pause, ControlRequest(requested_by="ops.ana"))
        await handle.signal(CollectionWorkflow.resume, ControlRequest(requested_by="ops.ana"))
        await handle.signal(
            CollectionWorkflow.payment_received,
            PaymentReceived(amount_cop=300_000, reference="REC-1", paid_at=now),
        )
        await handle.result()

    account = await fetch_account_history(ts_env.client, row.account_id)
    assert len(account.collections) == 1
    steps = await history_steps(account.collections[0])
    rows = await fetch_rows(pool, [row.account_id])

    kinds = [s.entry.kind for s in steps]
    assert {"opened", "contact", "promise_registered", "paused", "resumed"} <= set(kinds)
    assert {"payment_received", "promise_kept", "escalated", "closed"} <= set(kinds)
    # One to one by seq, in both directions, with seq 1..n and no duplicates.
    step_seqs = [s.entry.seq for s in steps]
    row_seqs = [r.seq for r in rows]
    assert sorted(step_seqs) == sorted(row_seqs) == list(range(1, len(rows) + 1))
    by_seq = {r.seq: r for r in rows}
    for step in steps:
        stored = by_seq[step.entry.seq]
        assert stored.collection_id == step.collection_id == step.entry.collection_id
        assert (stored.kind, stored.stage) == (step.entry.kind, step.entry.stage.value)
        assert stored.detail == step.entry.detail
        assert stored.occurred_at == step.entry.occurred_at
        assert stored.run_id == step.entry.run_id == step.history_run_id
        assert step.state == "completed"
    report = reconcile(steps, rows)
    assert report.passed and report.matched == len(rows) and not report.pending
