"""Ley 2300 in the running workflow: deferrals to legal windows, and caps counted per debtor."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, time, timedelta

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.channels import SimulatedProvider, SimulatedProviderConfig
from cobranza.compliance import holiday_name, load_contact_rules, next_window_start
from cobranza.domain import BOGOTA, Channel, Outcome
from cobranza.models import CollectionInput, ControlRequest, PaymentReceived, workflow_id_for
from cobranza.strategy import Strategy, load_strategy
from tests.integration.support import (
    log_rows,
    make_row,
    running_worker,
    seed_accounts,
    start_collection,
)
from workflows.collection import CollectionWorkflow

pytestmark = pytest.mark.integration

SILENT = SimulatedProvider(SimulatedProviderConfig(reply_rate=0.0, failure_rate=0.0))


def next_local(after: datetime, weekday: int, at: time) -> datetime:
    """The next `weekday` (Monday = 0) at `at`, Bogota time, strictly after `after`."""
    local = after.astimezone(BOGOTA)
    day = local.date()
    while True:
        candidate = datetime.combine(day, at, tzinfo=BOGOTA)
        if candidate.weekday() == weekday and candidate > local:
            return candidate
        day += timedelta(days=1)


async def test_saturday_afternoon_contact_waits_for_the_next_legal_window(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    now = await ts_env.get_current_time()
    saturday = next_local(now, 5, time(15, 10))
    await ts_env.sleep(saturday - now)
    row = make_row(balance_cop=700_000)
    await seed_accounts(pool, [row])
    strategy = load_strategy("default")
    expected = next_window_start(saturday, load_contact_rules())
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        handle = await start_collection(ts_env.client, row, task_queue, strategy=strategy)
        await ts_env.sleep(timedelta(hours=2))
        status = await handle.query(CollectionWorkflow.status)
        assert status.waiting_for_window_until == expected
        assert status.contacts_sent == 0
        paid_at = await ts_env.get_current_time()
        await handle.signal(
            CollectionWorkflow.payment_received,
            PaymentReceived(amount_cop=700_000, reference="SAT-1", paid_at=paid_at),
        )
        result = await handle.result()
    assert result.outcome == Outcome.PAID
    rows = await log_rows(pool, row.account_id)
    kinds = [r["kind"] for r in rows]
    assert "contact" not in kinds, "no message may go out on Saturday afternoon"
    deferred = next(r for r in rows if r["kind"] == "contact_deferred")
    assert deferred["detail"]["rule"] == "ley2300.art3.window"
    assert deferred["detail"]["source"] == "Ley 2300 de 2023, Art. 3"
    assert deferred["detail"]["decided_by"] == "calendar"
    assert datetime.fromisoformat(deferred["detail"]["not_before"]) == expected
    # The payment ended the deferral at once, not at the window.
    assert rows[-1]["kind"] == "closed"
    assert rows[-1]["occurred_at"] - paid_at < timedelta(minutes=5)
    if holiday_name(saturday.date() + timedelta(days=2)):
        assert holiday_name(saturday.date() + timedelta(days=2)) in deferred["detail"]["reason"]


def eager_strategy() -> Strategy:
    """Every account wants a message every hour on a different channel: only the gate holds it."""
    steps: list[dict[str, object]] = []
    channels = ["sms", "email", "call", "sms", "email", "call"]
    for i, channel in enumerate(channels):
        steps.append({"id": f"c{i}", "kind": "contact", "channel": channel, "template": "x"})
        steps.append({"id": f"w{i}", "kind": "wait", "duration": "1h"})
    steps.append({"id": "end", "kind": "close", "outcome": "exhausted"})
    return Strategy.model_validate({"name": "eager", "version": "1", "steps": steps})


async def test_one_debtor_three_accounts_two_campaigns_share_the_caps(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    now = await ts_env.get_current_time()
    monday = next_local(now, 0, time(9, 0))
    await ts_env.sleep(monday - now)
    document = "52123987"
    rows = [make_row(line=2 + i, document_number=document) for i in range(3)]
    await seed_accounts(pool, rows[:2], campaign_id="camp-a")
    await seed_accounts(pool, rows[2:], campaign_id="camp-b")
    strategy = eager_strategy()
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        handles = [
            await start_collection(
                ts_env.client,
                row,
                task_queue,
                strategy=strategy,
                campaign_id="camp-a" if i < 2 else "camp-b",
            )
            for i, row in enumerate(rows)
        ]
        results = [await handle.result() for handle in handles]
    assert all(r.outcome == Outcome.EXHAUSTED for r in results)

    contacts: list[tuple[datetime, str, str]] = []
    for row in rows:
        log = await log_rows(pool, row.account_id)
        for entry in log:
            if entry["kind"] == "contact":
                assert entry["detail"]["reservation"].startswith(f"collection-{row.account_id}:")
                contacts.append((entry["occurred_at"], entry["detail"]["channel"], row.account_id))
        gate_waits = [
            e
            for e in log
            if e["kind"] == "contact_deferred" and e["detail"]["decided_by"] == "debtor_gate"
        ]
        # Every account but the first one granted had to wait for the person's caps.
        for wait in gate_waits:
            assert wait["detail"]["rule"] in {
                "ley2300.art3.daily_cap",
                "ley2300.art3.weekly_channel",
            }
    assert len(contacts) == 18
    per_day: dict[object, int] = defaultdict(int)
    per_week: dict[object, set[str]] = defaultdict(set)
    for at, channel, _ in contacts:
        local = at.astimezone(BOGOTA)
        per_day[local.date()] += 1
        per_week[local.isocalendar()[:2]].add(channel)
        assert local.weekday() != 6 and holiday_name(local.date()) is None
    assert max(per_day.values()) == 1, "the person got two contacts in one day"
    assert all(len(channels) == 1 for channels in per_week.values())
    assert {c for _, c, _ in contacts} <= {Channel.SMS, Channel.EMAIL, Channel.CALL}
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT count(*) FROM contact_reservations r JOIN debtors d USING (debtor_id)
               WHERE d.document_number = %s""",
            (document,),
        )
        assert (await cur.fetchone()) == (18,)


async def test_a_rule_change_for_new_accounts_never_changes_a_replayed_decision(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    now = await ts_env.get_current_time()
    saturday = next_local(now, 5, time(15, 30))
    await ts_env.sleep(saturday - now)
    current = load_contact_rules()
    # A later rules version for new accounts: Saturday contacts allowed until 18:00.
    changed = current.model_copy(
        update={
            "version": "2099.9-test",
            "saturday_window": current.saturday_window.model_copy(update={"end": time(18, 0)}),
        }
    )
    old_row, new_row = make_row(), make_row()
    await seed_accounts(pool, [old_row, new_row])
    strategy = eager_strategy()
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        old = await ts_env.client.start_workflow(
            CollectionWorkflow.run,
            CollectionInput(
                account_id=old_row.account_id,
                strategy=strategy,
                balance_cop=old_row.balance_cop,
                days_past_due=0,
                product=old_row.product,
                contact_rules=current,
            ),
            id=workflow_id_for(old_row.account_id),
            task_queue=task_queue,
            execution_timeout=timedelta(days=60),
        )
        new = await ts_env.client.start_workflow(
            CollectionWorkflow.run,
            CollectionInput(
                account_id=new_row.account_id,
                strategy=strategy,
                balance_cop=new_row.balance_cop,
                days_past_due=0,
                product=new_row.product,
                contact_rules=changed,
            ),
            id=workflow_id_for(new_row.account_id),
            task_queue=task_queue,
            execution_timeout=timedelta(days=60),
        )
        await ts_env.sleep(timedelta(minutes=30))
        for handle in (old, new):
            await handle.signal(CollectionWorkflow.cancel, ControlRequest(reason="fin"))
            await handle.result()
        history = await old.fetch_history()
    old_log = [r["kind"] for r in await log_rows(pool, old_row.account_id)]
    new_log = [r["kind"] for r in await log_rows(pool, new_row.account_id)]
    assert "contact_deferred" in old_log and "contact" not in old_log
    assert "contact" in new_log, "the new version allows Saturday 15:30"
    # The old account's decisions replay unchanged: its rules travel in its own snapshot.
    await Replayer(
        workflows=[CollectionWorkflow], data_converter=pydantic_data_converter
    ).replay_workflow(history)


async def test_dev_server_three_accounts_of_one_debtor_contacting_at_once(
    dev_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    """Real time on the dev server: whatever the hour, the person gets at most one contact today,
    and each account's log says which reservation it got or why it waited."""
    document = "79555111"
    rows = [make_row(line=2 + i, document_number=document) for i in range(3)]
    await seed_accounts(pool, rows[:2], campaign_id="dev-a")
    await seed_accounts(pool, rows[2:], campaign_id="dev-b")
    strategy = eager_strategy()
    async with running_worker(dev_env.client, pool, task_queue, adapter=SILENT):
        handles = [
            await start_collection(
                dev_env.client,
                row,
                task_queue,
                strategy=strategy,
                campaign_id="dev-a" if i < 2 else "dev-b",
            )
            for i, row in enumerate(rows)
        ]
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            logs = [await log_rows(pool, row.account_id) for row in rows]
            if all(any(r["kind"] in ("contact", "contact_deferred") for r in log) for log in logs):
                break
            assert asyncio.get_running_loop().time() < deadline, "accounts never decided"
            await asyncio.sleep(0.2)
        for handle in handles:
            await handle.signal(CollectionWorkflow.cancel, ControlRequest(reason="fin"))
            await handle.result()
    contacts = [r for log in logs for r in log if r["kind"] == "contact"]
    assert len(contacts) <= 1
    for log in logs:
        decided = next(r for r in log if r["kind"] in ("contact", "contact_deferred"))
        if decided["kind"] == "contact":
            assert decided["detail"]["reservation"]
        else:
            assert decided["detail"]["rule"].startswith("ley2300.art3")
            assert decided["detail"]["not_before"]
