"""The per-person contact gate (migration 0007): read unlocked, judge, commit only if unchanged.

The activity is called directly here, against the real database, so the races are the gate's
own: several accounts of one person asking at the same instant, and a record that changes between
the read and the commit.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool
from structlog.testing import capture_logs

from activities.channels import SimulatedProvider, SimulatedProviderConfig
from activities.contact import ContactActivities
from activities.contact_gate import GateView, commit_contact, judge, read_gate
from cobranza.compliance import load_contact_rules
from cobranza.db import single_statement
from cobranza.domain import Channel, MessagePurpose, RecipientRole, Stage
from cobranza.models import ContactCommand, ContactResult, LogEntry, ReservationRequest
from tests.integration.support import make_row, seed_accounts

pytestmark = pytest.mark.integration

SILENT = SimulatedProvider(SimulatedProviderConfig(reply_rate=0.0, failure_rate=0.0))
# A weekday at 10:00 in Bogotá: inside the legal window, no holiday.
AT = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def command(account_id: str, seq: int = 2) -> ContactCommand:
    collection = f"run-{account_id}"
    key = f"collection-{account_id}:{collection}:{seq}"
    entry = LogEntry(
        account_id=account_id,
        workflow_id=f"collection-{account_id}",
        run_id=collection,
        collection_id=collection,
        seq=seq,
        kind="contact",
        stage=Stage.PREVENTIVA,
        detail={"step": "s1", "channel": "sms", "reservation": key},
        occurred_at=AT,
        campaign_id=None,
        strategy="default",
        balance_cop=1_500_000,
        original_balance_cop=1_500_000,
        outcome=None,
    )
    return ContactCommand(
        entry=entry,
        reservation=ReservationRequest(
            reservation_key=key,
            account_id=account_id,
            at=AT,
            channel=Channel.SMS,
            recipient_role=RecipientRole.DEBTOR,
            purpose=MessagePurpose.COLLECTION,
            rules=load_contact_rules(),
        ),
        channel=Channel.SMS,
        template="preventiva_recordatorio",
        reply_promise_after_s=5 * 86400,
    )


async def counts(pool: AsyncConnectionPool, account_ids: list[str]) -> tuple[int, int, int]:
    async with pool.connection() as conn:
        found = []
        for table in ("contact_reservations", "collection_log", "contact_outbox"):
            cur = await conn.execute(
                f"SELECT count(*) FROM {table} WHERE account_id = ANY(%s)", (account_ids,)
            )
            row = await cur.fetchone()
            found.append(row[0] if row else 0)
    return found[0], found[1], found[2]


async def test_accounts_of_one_person_asking_at_once_get_one_contact_today(
    pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = str(1_000_000_000 + uuid.uuid4().int % 9_000_000_000)
    rows = [make_row(line=2 + i, document_number=document) for i in range(8)]
    await seed_accounts(pool, rows)
    # Every account's first read happens before anyone commits: the worst race there is.
    everyone_read = asyncio.Barrier(len(rows))
    first_reads: set[str] = set()

    async def read_together(conn: Any, request: ReservationRequest, point: str) -> GateView:
        view = await read_gate(conn, request, point)
        if request.account_id not in first_reads:
            first_reads.add(request.account_id)
            await everyone_read.wait()
        return view

    monkeypatch.setattr("activities.contact.read_gate", read_together)
    contact = ContactActivities(pool, SILENT)
    with capture_logs() as logs:
        results: list[ContactResult] = await asyncio.gather(
            *(contact.send_contact(command(row.account_id)) for row in rows)
        )
    # The seven losers found the state changed under them and judged again.
    assert sum(e["event"] == "contact_gate_stale" for e in logs) == 7
    granted = [r for r in results if r.logged]
    deferred = [r for r in results if not r.logged]
    assert len(granted) == 1 and granted[0].status == "delivered"
    assert len(deferred) == 7
    assert all(r.status == "deferred" for r in deferred)
    assert all(r.decision and r.decision.rule == "ley2300.art3.daily_cap" for r in deferred)
    # Exactly one reservation, one log row and one message for the person; nothing else written.
    assert await counts(pool, [row.account_id for row in rows]) == (1, 1, 1)


async def test_a_state_changed_after_the_read_commits_nothing(pool: AsyncConnectionPool) -> None:
    row = make_row()
    await seed_accounts(pool, [row])
    cmd = command(row.account_id)
    async with single_statement(pool) as conn:
        view = await read_gate(conn, cmd.reservation, "phone")
        assert judge(view, cmd.reservation).granted
        # An agent withdraws SMS between the gate's read and its commit.
        await conn.execute(
            """UPDATE debtors SET authorized_channels = '{email}'
               WHERE debtor_id = (SELECT debtor_id FROM accounts WHERE account_id = %s)""",
            (row.account_id,),
        )
        committed = await commit_contact(
            conn, view, cmd.reservation, cmd.entry, key="k", template="t", body="b"
        )
        assert committed.gate == "stale"
    assert await counts(pool, [row.account_id]) == (0, 0, 0)
    # The activity itself reads again and judges the new state: SMS is no longer authorized.
    result = await ContactActivities(pool, SILENT).send_contact(cmd)
    assert result.status == "refused" and not result.logged
    assert result.decision and result.decision.rule == "ley2300.art2.authorized_channel"
    assert await counts(pool, [row.account_id]) == (0, 0, 0)


async def test_a_retried_send_is_granted_once_and_sends_what_was_queued(
    pool: AsyncConnectionPool,
) -> None:
    row = make_row()
    await seed_accounts(pool, [row])
    cmd = command(row.account_id)
    first = await ContactActivities(pool, SILENT).send_contact(cmd)
    again = await ContactActivities(pool, SILENT).send_contact(cmd)
    assert first.logged and first.inserted and first.status == "delivered"
    # The retry finds its own reservation (not the daily cap) and the message already answered.
    assert again.logged and not again.inserted and again.status == "delivered"
    assert again.provider_message_id == first.provider_message_id
    assert await counts(pool, [row.account_id]) == (1, 1, 1)
