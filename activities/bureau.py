"""Credit-bureau messages: prior notices to the debtor and negative reports.

The adapter here is the local default: it records in `bureau_messages` what would be sent, in the
same transaction as the step's log row. A real adapter (Datacrédito, TransUnion) would send from
that table, keyed by the same idempotency key.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from activities.steplog import insert_log_row
from cobranza.models import BureauCommand, LogReceipt


class BureauActivities:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    @activity.defn(name="record_bureau_message")
    async def record_bureau_message(self, command: BureauCommand) -> LogReceipt:
        entry = command.entry
        async with self._pool.connection() as conn, conn.transaction():
            receipt = await insert_log_row(conn, entry)
            await conn.execute(
                """INSERT INTO bureau_messages (message_key, account_id, kind, balance_cop, at)
                   VALUES (%s, %s, %s, %s, %s) ON CONFLICT (message_key) DO NOTHING""",
                (
                    f"{entry.workflow_id}:{entry.collection_id}:{entry.seq}",
                    entry.account_id,
                    command.kind,
                    entry.balance_cop,
                    entry.occurred_at,
                ),
            )
        return receipt
