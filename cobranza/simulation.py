"""Simulated debtors for the demo: some of those who promised pay on time, the rest do not.

Payments go through the same path as core banking's (`report_payment`), so the demo exercises the
real signal, the payments table and the workflow's dedupe.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client

from cobranza.operations import OperationError, report_payment


class SimulatedDebtors:
    def __init__(
        self, client: Client, pool: AsyncConnectionPool, *, seed: int = 2300, keep_rate: float = 0.6
    ) -> None:
        self._client = client
        self._pool = pool
        self._seed = seed
        self._keep_rate = keep_rate
        self._handled: set[tuple[str, int]] = set()

    def _keeps(self, account_id: str, seq: int) -> bool:
        digest = hashlib.sha256(f"{self._seed}:{account_id}:{seq}".encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < self._keep_rate

    async def tick(self, campaign_id: str) -> int:
        """Pay the promises that fall due now and that these debtors keep; returns payments made."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT l.account_id, l.seq, (l.detail->>'amount_cop')::bigint,
                          (l.detail->>'due_at')::timestamptz
                   FROM collection_log l JOIN collections c USING (collection_id)
                   WHERE c.campaign_id = %s AND c.outcome IS NULL
                     AND l.kind = 'promise_registered'""",
                (campaign_id,),
            )
            promises = await cur.fetchall()
        now = datetime.now(UTC)
        paid = 0
        for account_id, seq, amount, due_at in promises:
            key = (account_id, seq)
            if key in self._handled:
                continue
            # Pay a little before the due date, as the debtors who keep their word do.
            if (due_at - now).total_seconds() > 4:
                continue
            self._handled.add(key)
            if not self._keeps(account_id, seq):
                continue
            try:
                await report_payment(
                    self._client,
                    self._pool,
                    account_id=account_id,
                    amount_cop=amount,
                    reference=f"SIM-{account_id}-{seq}",
                    source="simulated_debtor",
                )
                paid += 1
            except OperationError:
                pass  # the collection ended meanwhile
        return paid
