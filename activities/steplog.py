"""The step log writer: one `collection_log` row per workflow step, idempotent and hash-chained."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
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


# collection_log_append's arguments (migration 0006), by name; contact_send_commit (0007) takes
# the same ones, so a contact's row is written exactly as any other step's.
LOG_ROW_ARGS = """p_account => %(p_account)s, p_workflow => %(p_workflow)s, p_run => %(p_run)s,
    p_collection => %(p_collection)s, p_seq => %(p_seq)s, p_kind => %(p_kind)s,
    p_stage => %(p_stage)s, p_detail => %(p_detail)s, p_occurred => %(p_occurred)s,
    p_recorded => %(p_recorded)s, p_canonical => %(p_canonical)s, p_campaign => %(p_campaign)s,
    p_strategy => %(p_strategy)s, p_outcome => %(p_outcome)s, p_balance => %(p_balance)s,
    p_original => %(p_original)s, p_closed => %(p_closed)s"""

_APPEND = f"SELECT hash, inserted FROM collection_log_append({LOG_ROW_ARGS})"


def log_row_params(entry: LogEntry) -> dict[str, Any]:
    """The row for `entry` as LOG_ROW_ARGS takes it, stamped with the time it is recorded.

    The hash is sha256(prev_hash, canonical(row)) as row_hash computes it; the database adds the
    previous hash it reads under the account's lock.
    """
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
    return {
        "p_account": entry.account_id,
        "p_workflow": entry.workflow_id,
        "p_run": entry.run_id,
        "p_collection": entry.collection_id,
        "p_seq": entry.seq,
        "p_kind": entry.kind,
        "p_stage": entry.stage.value,
        "p_detail": json.dumps(entry.detail, ensure_ascii=False),
        "p_occurred": entry.occurred_at,
        "p_recorded": recorded_at,
        "p_canonical": canonical(row),
        "p_campaign": entry.campaign_id,
        "p_strategy": entry.strategy,
        "p_outcome": entry.outcome.value if entry.outcome else None,
        "p_balance": entry.balance_cop,
        "p_original": entry.original_balance_cop,
        "p_closed": entry.occurred_at if entry.outcome is not None else None,
    }


@contextlib.contextmanager
def log_write_errors(account_id: str) -> Iterator[None]:
    """The database's refusals of a log row, as the non-retryable errors the workflow knows."""
    try:
        yield
    except psycopg.errors.UniqueViolation as err:
        raise ApplicationError(
            f"account {account_id} already has another open collection",
            type="DuplicateCollection",
            non_retryable=True,
        ) from err
    except psycopg.errors.ForeignKeyViolation as err:
        raise ApplicationError(
            f"account {account_id} is not in the accounts table",
            type="UnknownAccount",
            non_retryable=True,
        ) from err


async def insert_log_row(conn: psycopg.AsyncConnection, entry: LogEntry) -> LogReceipt:
    """Write the row for `entry` unless it is already there; the caller owns the transaction."""
    # One statement (migration 0006): lock, retry check, chain link, row and read model.
    with log_write_errors(entry.account_id):
        cur = await conn.execute(_APPEND, log_row_params(entry))
        found = await cur.fetchone()
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
