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

from cobranza.db import single_statement
from cobranza.hashchain import canonical
from cobranza.models import LogEntry, LogReceipt

# Called after a row's transaction commits; tests use it to fail an attempt after the write.
AfterCommit = Callable[[LogEntry], None]


async def insert_log_row(conn: psycopg.AsyncConnection, entry: LogEntry) -> LogReceipt:
    """Write the row for `entry` unless it is already there; the caller owns the transaction."""
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
    try:
        # One statement (migration 0006): lock, retry check, chain link, row and read model. The
        # hash is sha256(prev_hash, canonical(row)) as row_hash computes it; the database adds the
        # previous hash it read under the account's lock.
        cur = await conn.execute(
            """SELECT hash, inserted FROM collection_log_append(
                   p_account => %s, p_workflow => %s, p_run => %s, p_collection => %s,
                   p_seq => %s, p_kind => %s, p_stage => %s, p_detail => %s,
                   p_occurred => %s, p_recorded => %s, p_canonical => %s, p_campaign => %s,
                   p_strategy => %s, p_outcome => %s, p_balance => %s, p_original => %s,
                   p_closed => %s)""",
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
                canonical(row),
                entry.campaign_id,
                entry.strategy,
                entry.outcome.value if entry.outcome else None,
                entry.balance_cop,
                entry.original_balance_cop,
                entry.occurred_at if entry.outcome is not None else None,
            ),
        )
        found = await cur.fetchone()
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
    assert found is not None
    digest, inserted = found
    return LogReceipt(seq=entry.seq, hash=digest, inserted=inserted)


class StepLogActivities:
    def __init__(self, pool: AsyncConnectionPool, after_commit: AfterCommit | None = None) -> None:
        self._pool = pool
        self._after_commit = after_commit

    @activity.defn(name="record_step")
    async def record_step(self, entry: LogEntry) -> LogReceipt:
        # insert_log_row is one statement, so it is its own transaction: one round trip.
        async with single_statement(self._pool) as conn:
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
