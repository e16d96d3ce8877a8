"""The step log writer: one `collection_log` row per workflow step, idempotent and hash-chained."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.exceptions import ApplicationError

from cobranza.hashchain import GENESIS, row_hash
from cobranza.models import LogEntry, LogReceipt

# Called after a row's transaction commits; tests use it to fail an attempt after the write.
AfterCommit = Callable[[LogEntry], None]


async def insert_log_row(conn: psycopg.AsyncConnection, entry: LogEntry) -> LogReceipt:
    """Write the row for `entry` unless it is already there; the caller owns the transaction."""
    # Serialize writers of one account so each row links to the one before it.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 2300))", (entry.account_id,)
    )
    cur = await conn.execute(
        "SELECT hash FROM collection_log WHERE workflow_id = %s AND collection_id = %s AND seq = %s",
        (entry.workflow_id, entry.collection_id, entry.seq),
    )
    existing = await cur.fetchone()
    if existing is not None:
        return LogReceipt(seq=entry.seq, hash=existing[0], inserted=False)

    cur = await conn.execute(
        "SELECT hash FROM collection_log WHERE account_id = %s ORDER BY id DESC LIMIT 1",
        (entry.account_id,),
    )
    last = await cur.fetchone()
    prev_hash = last[0] if last else GENESIS
    recorded_at = datetime.now(UTC)
    row = {
        "account_id": entry.account_id,
        "workflow_id": entry.workflow_id,
        "run_id": entry.run_id,
        "seq": entry.seq,
        "kind": entry.kind,
        "stage": entry.stage.value,
        "detail": entry.detail,
        "occurred_at": entry.occurred_at,
        "recorded_at": recorded_at,
    }
    digest = row_hash(prev_hash, row)
    await conn.execute(
        """INSERT INTO collection_log (account_id, workflow_id, run_id, collection_id, seq, kind,
               stage, detail, occurred_at, recorded_at, prev_hash, hash)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            entry.account_id,
            entry.workflow_id,
            entry.run_id,
            entry.collection_id,
            entry.seq,
            entry.kind,
            entry.stage.value,
            json.dumps(entry.detail, ensure_ascii=False),
            entry.occurred_at,
            recorded_at,
            prev_hash,
            digest,
        ),
    )
    closed_at = entry.occurred_at if entry.outcome is not None else None
    try:
        await conn.execute(
            """INSERT INTO collections (collection_id, workflow_id, account_id, campaign_id,
                   strategy, stage, outcome, balance_cop, original_balance_cop, last_seq,
                   opened_at, closed_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (collection_id) DO UPDATE SET
                   stage = EXCLUDED.stage, outcome = EXCLUDED.outcome,
                   balance_cop = EXCLUDED.balance_cop,
                   last_seq = GREATEST(collections.last_seq, EXCLUDED.last_seq),
                   closed_at = EXCLUDED.closed_at, updated_at = now()""",
            (
                entry.collection_id,
                entry.workflow_id,
                entry.account_id,
                entry.campaign_id,
                entry.strategy,
                entry.stage.value,
                entry.outcome.value if entry.outcome else None,
                entry.balance_cop,
                entry.original_balance_cop,
                entry.seq,
                entry.occurred_at,
                closed_at,
            ),
        )
    except psycopg.errors.UniqueViolation as err:
        raise ApplicationError(
            f"account {entry.account_id} already has another open collection",
            type="DuplicateCollection",
            non_retryable=True,
        ) from err
    except psycopg.errors.ForeignKeyViolation as err:
        raise ApplicationError(
            f"account {entry.account_id} is not in the accounts table",
            type="UnknownAccount",
            non_retryable=True,
        ) from err
    return LogReceipt(seq=entry.seq, hash=digest, inserted=True)


class StepLogActivities:
    def __init__(self, pool: AsyncConnectionPool, after_commit: AfterCommit | None = None) -> None:
        self._pool = pool
        self._after_commit = after_commit

    @activity.defn(name="record_step")
    async def record_step(self, entry: LogEntry) -> LogReceipt:
        async with self._pool.connection() as conn, conn.transaction():
            receipt = await insert_log_row(conn, entry)
        if self._after_commit is not None:
            self._after_commit(entry)
        return receipt


async def fetch_log(pool: AsyncConnectionPool, account_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM collection_log WHERE account_id = %s ORDER BY id", (account_id,)
        )
        return list(await cur.fetchall())
