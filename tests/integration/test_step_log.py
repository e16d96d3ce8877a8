"""The step log: idempotent under retries, append-only in the database, hash-chained per account."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from activities.channels import SimulatedProvider, SimulatedProviderConfig
from activities.steplog import insert_log_row
from cobranza.domain import Stage
from cobranza.hashchain import verify_chain
from cobranza.models import ControlRequest, LogEntry
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


class FailOnceAfterCommit:
    """Fails the first attempt of each chosen step kind after its transaction committed,
    as a worker crash or a lost activity completion would."""

    def __init__(self, kinds: set[str]) -> None:
        self.kinds = kinds
        self.failed: list[tuple[str, int]] = []

    def __call__(self, entry: LogEntry) -> None:
        key = (entry.kind, entry.seq)
        if entry.kind in self.kinds and key not in self.failed:
            self.failed.append(key)
            raise RuntimeError(f"simulated crash after commit of {key}")


async def test_retried_activity_leaves_one_log_row_and_one_outbox_message(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    row = make_row()
    await seed_accounts(pool, [row])
    crash = FailOnceAfterCommit({"contact", "wait"})
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT, after_commit=crash):
        handle = await start_collection(ts_env.client, row, task_queue)
        # Run through the first two contacts and waits, then stop.
        while len([k for k, _ in crash.failed if k == "contact"]) < 2:
            await ts_env.sleep(timedelta(days=1))
        await handle.signal(CollectionWorkflow.cancel, ControlRequest())
        await handle.result()
        history = await handle.fetch_history()

    assert len(crash.failed) >= 3
    rows = await log_rows(pool, row.account_id)
    seqs = [r["seq"] for r in rows]
    assert seqs == sorted(set(seqs)), "a retried step wrote a second row"
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT seq, count(*) FROM contact_outbox WHERE account_id = %s GROUP BY seq",
            (row.account_id,),
        )
        outbox: dict[int, int] = dict(await cur.fetchall())
    contact_seqs = [r["seq"] for r in rows if r["kind"] == "contact"]
    assert outbox == dict.fromkeys(contact_seqs, 1)
    # The history shows the retries really happened (attempt 2 of the failed activities).
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert max(attempts) >= 2


async def test_log_is_append_only_and_hash_chained(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, database_url: str, task_queue: str
) -> None:
    row = make_row()
    await seed_accounts(pool, [row])
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        handle = await start_collection(ts_env.client, row, task_queue)
        await ts_env.sleep(timedelta(days=4))
        await handle.signal(CollectionWorkflow.cancel, ControlRequest())
        await handle.result()

    rows = await log_rows(pool, row.account_id)
    assert len(rows) >= 5
    assert verify_chain(rows) == []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for statement in (
            "UPDATE collection_log SET detail = '{}' WHERE account_id = %s",
            "DELETE FROM collection_log WHERE account_id = %s",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement, (row.account_id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("TRUNCATE collection_log")
    assert await log_rows(pool, row.account_id) == rows

    # An edit that bypasses the guard (as a superuser could) breaks the chain at that row.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE collection_log SET detail = jsonb_set(detail, '{tampered}', 'true') "
            "WHERE id = %s",
            (rows[2]["id"],),
        )
    breaks = verify_chain(await log_rows(pool, row.account_id))
    assert [b.row_id for b in breaks] == [rows[2]["id"]]


async def test_a_writer_that_waited_for_the_account_lock_links_to_the_row_it_waited_for(
    pool: AsyncConnectionPool,
) -> None:
    """The latest hash is read after the account's lock is held, never from a snapshot taken
    while waiting for it (which would link both rows to the same predecessor)."""
    row = make_row()
    await seed_accounts(pool, [row])
    run = str(uuid.uuid4())

    def entry(seq: int) -> LogEntry:
        return LogEntry(
            account_id=row.account_id,
            workflow_id=f"collection-{row.account_id}",
            run_id=run,
            collection_id=run,
            seq=seq,
            kind="opened" if seq == 1 else "wait",
            stage=Stage.PREVENTIVA,
            detail={"seq": seq},
            occurred_at=datetime.now(UTC),
            campaign_id=None,
            strategy="default",
            balance_cop=row.balance_cop,
            original_balance_cop=row.balance_cop,
        )

    async def second() -> None:
        async with pool.connection() as conn, conn.transaction():
            await insert_log_row(conn, entry(2))

    async with pool.connection() as conn, conn.transaction():
        await insert_log_row(conn, entry(1))
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.3)  # the second writer is now blocked on the account's lock
        assert not waiting.done()
    await waiting

    rows = await log_rows(pool, row.account_id)
    assert [r["seq"] for r in rows] == [1, 2]
    assert rows[1]["prev_hash"] == rows[0]["hash"]
    assert verify_chain(rows) == []
