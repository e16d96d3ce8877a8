"""The collection lifecycle on the time-skipping server with real Postgres activities.

Each test runs one or two accounts (the test server misbehaves with many sleeping workflows).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from activities.channels import SimulatedProvider, SimulatedProviderConfig
from cobranza.domain import Outcome, Stage
from cobranza.models import ControlRequest, PaymentReceived, PromiseToPay
from tests.integration.support import (
    business_morning,
    kinds,
    log_rows,
    make_row,
    running_worker,
    seed_accounts,
    start_collection,
)
from workflows.collection import CollectionWorkflow

pytestmark = pytest.mark.integration

# Debtors who never answer and providers that always deliver: the strategy alone drives the flow.
SILENT = SimulatedProvider(SimulatedProviderConfig(reply_rate=0.0, failure_rate=0.0))


def payment(amount: int, reference: str, at) -> PaymentReceived:  # type: ignore[no-untyped-def]
    return PaymentReceived(amount_cop=amount, reference=reference, paid_at=at)


async def test_payment_during_wait_ends_collection_as_paid(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    row = make_row(balance_cop=800_000)
    await seed_accounts(pool, [row])
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        handle = await start_collection(ts_env.client, row, task_queue)
        await ts_env.sleep(timedelta(days=1))
        status = await handle.query(CollectionWorkflow.status)
        assert status.step_kind == "wait" and status.next_wake_up is not None
        before = await ts_env.get_current_time()
        await handle.signal(CollectionWorkflow.payment_received, payment(800_000, "PAY-1", before))
        result = await handle.result()
    assert result.outcome == Outcome.PAID
    assert result.balance_cop == 0
    rows = await log_rows(pool, row.account_id)
    # Paid at once, in workflow time: the 3-day wait was not sat out.
    assert rows[-1]["occurred_at"] - before < timedelta(minutes=5)
    assert [r["kind"] for r in rows][-2:] == ["payment_received", "closed"]
    assert rows[-1]["detail"]["outcome"] == "paid"


async def test_promise_kept(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    row = make_row(balance_cop=1_000_000)
    await seed_accounts(pool, [row])
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        handle = await start_collection(ts_env.client, row, task_queue)
        now = await ts_env.get_current_time()
        await handle.signal(
            CollectionWorkflow.promise_registered,
            PromiseToPay(amount_cop=400_000, due_at=now + timedelta(days=5)),
        )
        await ts_env.sleep(timedelta(days=3))
        status = await handle.query(CollectionWorkflow.status)
        assert status.open_promise is not None
        await handle.signal(
            CollectionWorkflow.payment_received,
            payment(400_000, "PAY-P1", await ts_env.get_current_time()),
        )
        await ts_env.sleep(timedelta(days=10))
        status = await handle.query(CollectionWorkflow.status)
        assert status.open_promise is None
        assert status.promises_kept == 1 and status.promises_broken == 0
        assert status.balance_cop == 600_000
        # A kept promise does not escalate: the account stays in preventiva's schedule.
        assert status.outcome is None
        await handle.signal(CollectionWorkflow.cancel, ControlRequest(reason="fin de prueba"))
        result = await handle.result()
    assert result.outcome == Outcome.CANCELLED
    log = await kinds(pool, row.account_id)
    assert log.index("promise_registered") < log.index("payment_received")
    assert log.index("payment_received") < log.index("promise_kept")
    assert "promise_broken" not in log
    # While the promise was open, scheduled contacts were held back.
    assert "contact_skipped" in log


async def test_promise_broken_then_escalation(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    row = make_row(balance_cop=2_000_000)
    await seed_accounts(pool, [row])
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        handle = await start_collection(ts_env.client, row, task_queue)
        now = await ts_env.get_current_time()
        await handle.signal(
            CollectionWorkflow.promise_registered,
            PromiseToPay(amount_cop=2_000_000, due_at=now + timedelta(days=1)),
        )
        # Due in 1 day, plus the 2-day grace of the preventiva promise check.
        await ts_env.sleep(timedelta(days=4))
        status = await handle.query(CollectionWorkflow.status)
        assert status.promises_broken == 1
        assert status.stage == Stage.ADMINISTRATIVA
        await handle.signal(CollectionWorkflow.cancel, ControlRequest())
        await handle.result()
    rows = await log_rows(pool, row.account_id)
    log = [r["kind"] for r in rows]
    broken = log.index("promise_broken")
    escalated = rows[broken + 1]
    assert escalated["kind"] == "escalated"
    assert escalated["detail"]["reason"] == "promise_broken"
    assert escalated["detail"]["to_stage"] == "administrativa"
    # The rest of preventiva was skipped: no preventiva email after the broken promise.
    assert "prev-email" not in [r["detail"].get("step") for r in rows[broken:]]


async def test_no_response_whole_default_strategy_ends_handed_to_legal(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    row = make_row(balance_cop=3_500_000)
    await seed_accounts(pool, [row])
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        handle = await start_collection(ts_env.client, row, task_queue)
        result = await handle.result()
    assert result.outcome == Outcome.HANDED_TO_LEGAL
    assert result.stage == Stage.JURIDICA
    rows = await log_rows(pool, row.account_id)
    elapsed = rows[-1]["occurred_at"] - rows[0]["occurred_at"]
    # 120 days of waits, plus what Ley 2300 defers (windows, one channel a week).
    assert timedelta(days=119) <= elapsed <= timedelta(days=140)
    stages = [r["detail"]["to_stage"] for r in rows if r["kind"] == "escalated"]
    assert stages == ["administrativa", "prejuridica", "juridica"]
    assert sum(1 for r in rows if r["kind"] == "contact") == 11
    assert rows[0]["kind"] == "opened" and rows[-1]["kind"] == "closed"
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))


async def test_cancel(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    row = make_row()
    await seed_accounts(pool, [row])
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        handle = await start_collection(ts_env.client, row, task_queue)
        await ts_env.sleep(timedelta(days=2))
        await handle.signal(
            CollectionWorkflow.cancel,
            ControlRequest(requested_by="ops.maria", reason="cartera vendida"),
        )
        result = await handle.result()
    assert result.outcome == Outcome.CANCELLED
    closed = (await log_rows(pool, row.account_id))[-1]
    assert closed["kind"] == "closed"
    assert closed["detail"]["requested_by"] == "ops.maria"
    assert closed["detail"]["cancel_reason"] == "cartera vendida"


async def test_pause_stops_the_clock_and_resume_continues(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    row = make_row()
    await seed_accounts(pool, [row])
    await business_morning(ts_env)
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        handle = await start_collection(ts_env.client, row, task_queue)
        # Day 1 of the 3-day wait after the first SMS.
        await ts_env.sleep(timedelta(days=1))
        await handle.signal(CollectionWorkflow.pause, ControlRequest(requested_by="ops"))
        await ts_env.sleep(timedelta(hours=1))
        paused_at = len(await kinds(pool, row.account_id))
        await ts_env.sleep(timedelta(days=30))
        status = await handle.query(CollectionWorkflow.status)
        assert status.paused and status.next_wake_up is None
        assert status.step_id == "prev-wait-1"
        # No step ran while paused.
        assert len(await kinds(pool, row.account_id)) == paused_at
        await handle.signal(CollectionWorkflow.resume, ControlRequest(requested_by="ops"))
        # About 2 days of the wait remain: at 1.5 days it is still waiting...
        await ts_env.sleep(timedelta(days=1, hours=12))
        status = await handle.query(CollectionWorkflow.status)
        assert status.step_id == "prev-wait-1"
        # ...and a day later the wait is over and the next step (the email) has started: sent,
        # or deferred by Ley 2300 if the calendar says so.
        await ts_env.sleep(timedelta(days=1))
        status = await handle.query(CollectionWorkflow.status)
        assert status.step_id != "prev-wait-1"
        log = await kinds(pool, row.account_id)
        await handle.signal(CollectionWorkflow.cancel, ControlRequest())
        await handle.result()
    assert log[:5] == ["opened", "contact", "wait", "paused", "resumed"]
    assert log[5] in {"contact", "contact_deferred"}


async def test_partial_payments_reduce_the_balance(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    row = make_row(balance_cop=900_000)
    await seed_accounts(pool, [row])
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        handle = await start_collection(ts_env.client, row, task_queue)
        now = await ts_env.get_current_time()
        await handle.signal(CollectionWorkflow.payment_received, payment(300_000, "P-A", now))
        await handle.signal(CollectionWorkflow.payment_received, payment(250_000, "P-B", now))
        await ts_env.sleep(timedelta(hours=2))
        status = await handle.query(CollectionWorkflow.status)
        assert status.balance_cop == 350_000 and status.paid_cop == 550_000
        assert status.outcome is None
        await handle.signal(CollectionWorkflow.payment_received, payment(350_000, "P-C", now))
        result = await handle.result()
    assert result.outcome == Outcome.PAID and result.paid_cop == 900_000


async def test_repeated_payment_reference_counts_once(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    row = make_row(balance_cop=1_000_000)
    await seed_accounts(pool, [row])
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        handle = await start_collection(ts_env.client, row, task_queue)
        now = await ts_env.get_current_time()
        for _ in range(3):
            await handle.signal(
                CollectionWorkflow.payment_received, payment(400_000, "REF-DUP", now)
            )
        await ts_env.sleep(timedelta(hours=2))
        status = await handle.query(CollectionWorkflow.status)
        await handle.signal(CollectionWorkflow.cancel, ControlRequest())
        await handle.result()
    assert status.balance_cop == 600_000 and status.paid_cop == 400_000
    log = await kinds(pool, row.account_id)
    assert log.count("payment_received") == 1
    assert log.count("payment_duplicate") == 2
