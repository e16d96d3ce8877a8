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
    # One round trip: serialize writers of one account (so each row links to the one before it),
    # find this step's row if a retry already wrote it, and the account's latest hash.
    cur = await conn.execute(
        """SELECT pg_advisory_xact_lock(hashtextextended(%(account)s, 2300)),
                  (SELECT hash FROM collection_log
                    WHERE workflow_id = %(workflow)s AND collection_id = %(collection)s
                      AND seq = %(seq)s),
                  (SELECT hash FROM collection_log WHERE account_id = %(account)s
                    ORDER BY id DESC LIMIT 1)""",
        {
            "account": entry.account_id,
            "workflow": entry.workflow_id,
            "collection": entry.collection_id,
            "seq": entry.seq,
        },
    )
    found = await cur.fetchone()
    assert found is not None
    _, existing, last = found
    if existing is not None:
        return LogReceipt(seq=entry.seq, hash=existing, inserted=False)

    prev_hash = last or GENESIS
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
    closed_at = entry.occurred_at if entry.outcome is not None else None
    try:
        # The row and the collection's read model in one statement.
        await conn.execute(
            """WITH logged AS (
                   INSERT INTO collection_log (account_id, workflow_id, run_id, collection_id,
                       seq, kind, stage, detail, occurred_at, recorded_at, prev_hash, hash)
                   VALUES (%(account)s, %(workflow)s, %(run)s, %(collection)s, %(seq)s,
                       %(kind)s, %(stage)s, %(detail)s, %(occurred)s, %(recorded)s, %(prev)s,
                       %(hash)s)
                   RETURNING 1)
               INSERT INTO collections (collection_id, workflow_id, account_id, campaign_id,
                   strategy, stage, outcome, balance_cop, original_balance_cop, last_seq,
                   opened_at, closed_at)
               SELECT %(collection)s, %(workflow)s, %(account)s, %(campaign)s, %(strategy)s,
                   %(stage)s, %(outcome)s, %(balance)s, %(original)s, %(seq)s, %(occurred)s,
                   %(closed)s
               FROM logged
               ON CONFLICT (collection_id) DO UPDATE SET
                   stage = EXCLUDED.stage, outcome = EXCLUDED.outcome,
                   balance_cop = EXCLUDED.balance_cop,
                   last_seq = GREATEST(collections.last_seq, EXCLUDED.last_seq),
                   closed_at = EXCLUDED.closed_at, updated_at = now()""",
            {
                "account": entry.account_id,
                "workflow": entry.workflow_id,
                "run": entry.run_id,
                "collection": entry.collection_id,
                "seq": entry.seq,
                "kind": entry.kind,
                "stage": entry.stage.value,
                "detail": json.dumps(entry.detail, ensure_ascii=False),
                "occurred": entry.occurred_at,
                "recorded": recorded_at,
                "prev": prev_hash,
                "hash": digest,
                "campaign": entry.campaign_id,
                "strategy": entry.strategy,
                "outcome": entry.outcome.value if entry.outcome else None,
                "balance": entry.balance_cop,
                "original": entry.original_balance_cop,
                "closed": closed_at,
            },
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
