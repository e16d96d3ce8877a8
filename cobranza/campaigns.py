"""Campaigns: import a validated portfolio into Postgres, then start one workflow per account.

Both halves are idempotent: the same campaign id with the same file imports nothing new, and
starting skips every account already started, so running `campaign start` twice starts nothing new.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from cobranza.models import CollectionInput, workflow_id_for
from cobranza.portfolio import PortfolioRow
from cobranza.strategy import Strategy
from workflows.collection import CollectionWorkflow


class CampaignConflictError(ValueError):
    """The campaign id exists with another file or strategy."""


class SkippedAccount(BaseModel):
    line: int
    account_id: str
    reason: str


class ImportSummary(BaseModel):
    campaign_id: str
    created: bool
    accounts: int
    skipped: list[SkippedAccount]


class StartSummary(BaseModel):
    campaign_id: str
    started: int
    already_running: int


async def import_campaign(
    pool: AsyncConnectionPool,
    *,
    campaign_id: str,
    strategy: str,
    file_name: str,
    file_sha256: str,
    rows: Sequence[PortfolioRow],
) -> ImportSummary:
    """Load debtors, accounts and the campaign in one transaction: all of it or nothing."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 3))", (campaign_id,))
        cur = await conn.execute(
            "SELECT file_sha256, strategy, accounts_total FROM campaigns WHERE campaign_id = %s",
            (campaign_id,),
        )
        existing = await cur.fetchone()
        if existing is not None:
            sha, existing_strategy, total = existing
            if sha != file_sha256:
                raise CampaignConflictError(
                    f"la campaña {campaign_id!r} ya existe con otro archivo; use otro --campaign-id"
                )
            if existing_strategy != strategy:
                raise CampaignConflictError(
                    f"la campaña {campaign_id!r} ya existe con la estrategia {existing_strategy!r}"
                )
            return ImportSummary(campaign_id=campaign_id, created=False, accounts=total, skipped=[])

        ids = [row.account_id for row in rows]
        cur = await conn.execute(
            """SELECT account_id, coalesce(campaign_id, '') FROM collections
               WHERE account_id = ANY(%s) AND outcome IS NULL
               UNION
               SELECT ca.account_id, ca.campaign_id FROM campaign_accounts ca
               JOIN campaigns c USING (campaign_id)
               WHERE ca.account_id = ANY(%s) AND ca.started_at IS NULL
                 AND ca.skipped_reason IS NULL AND c.status <> 'cancelled'""",
            (ids, ids),
        )
        busy: dict[str, str] = dict(await cur.fetchall())
        skipped = [
            SkippedAccount(
                line=row.line,
                account_id=row.account_id,
                reason=f"ya tiene una cobranza abierta en la campaña {busy[row.account_id]!r}",
            )
            for row in rows
            if row.account_id in busy
        ]
        await conn.execute(
            """INSERT INTO campaigns (campaign_id, strategy, file_name, file_sha256,
                   accounts_total, accounts_skipped)
               VALUES (%s, %s, %s, %s, %s, %s)""",
            (campaign_id, strategy, file_name, file_sha256, len(rows), len(skipped)),
        )
        async with conn.cursor() as cur:
            for row in rows:
                debtor = await cur.execute(
                    """INSERT INTO debtors (debtor_id, document_type, document_number, full_name,
                           phone, email, address, city, authorized_channels)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (document_type, document_number) DO UPDATE SET
                           full_name = EXCLUDED.full_name,
                           phone = coalesce(EXCLUDED.phone, debtors.phone),
                           email = coalesce(EXCLUDED.email, debtors.email),
                           address = coalesce(EXCLUDED.address, debtors.address),
                           city = coalesce(EXCLUDED.city, debtors.city),
                           authorized_channels = EXCLUDED.authorized_channels,
                           updated_at = now()
                       RETURNING debtor_id""",
                    (
                        uuid.uuid4(),
                        row.document_type.value,
                        row.document_number,
                        row.full_name,
                        row.phone,
                        row.email,
                        row.address,
                        row.city,
                        sorted(c.value for c in row.authorized_channels),
                    ),
                )
                found = await debtor.fetchone()
                assert found is not None
                if row.account_id in busy:
                    # Leave the open collection's account row as it is.
                    await cur.execute(
                        """INSERT INTO accounts (account_id, debtor_id, product, balance_cop,
                               days_past_due) VALUES (%s, %s, %s, %s, %s)
                           ON CONFLICT (account_id) DO NOTHING""",
                        (row.account_id, found[0], row.product, row.balance_cop, row.days_past_due),
                    )
                else:
                    await cur.execute(
                        """INSERT INTO accounts (account_id, debtor_id, product, balance_cop,
                               days_past_due) VALUES (%s, %s, %s, %s, %s)
                           ON CONFLICT (account_id) DO UPDATE SET
                               debtor_id = EXCLUDED.debtor_id, product = EXCLUDED.product,
                               balance_cop = EXCLUDED.balance_cop,
                               days_past_due = EXCLUDED.days_past_due, updated_at = now()""",
                        (row.account_id, found[0], row.product, row.balance_cop, row.days_past_due),
                    )
                await cur.execute(
                    """INSERT INTO campaign_accounts (campaign_id, account_id, line, balance_cop,
                           days_past_due, skipped_reason) VALUES (%s, %s, %s, %s, %s, %s)""",
                    (
                        campaign_id,
                        row.account_id,
                        row.line,
                        row.balance_cop,
                        row.days_past_due,
                        "open_collection_elsewhere" if row.account_id in busy else None,
                    ),
                )
    return ImportSummary(campaign_id=campaign_id, created=True, accounts=len(rows), skipped=skipped)


async def start_campaign(
    client: Client,
    pool: AsyncConnectionPool,
    *,
    campaign_id: str,
    strategy: Strategy,
    task_queue: str,
    concurrency: int = 64,
    on_started: Callable[[int], None] | None = None,
) -> StartSummary:
    """Start a workflow for every account of the campaign not started yet (bounded in flight)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT ca.account_id, ca.balance_cop, ca.days_past_due, a.product
               FROM campaign_accounts ca JOIN accounts a USING (account_id)
               WHERE ca.campaign_id = %s AND ca.started_at IS NULL
                 AND ca.skipped_reason IS NULL
               ORDER BY ca.line""",
            (campaign_id,),
        )
        pending = await cur.fetchall()

    gate = asyncio.Semaphore(concurrency)
    started = 0
    already = 0

    async def start_one(account_id: str, balance: int, dpd: int, product: str) -> None:
        nonlocal started, already
        async with gate:
            try:
                await client.start_workflow(
                    CollectionWorkflow.run,
                    CollectionInput(
                        account_id=account_id,
                        campaign_id=campaign_id,
                        strategy=strategy,
                        balance_cop=balance,
                        days_past_due=dpd,
                        product=product,
                    ),
                    id=workflow_id_for(account_id),
                    task_queue=task_queue,
                )
                started += 1
            except WorkflowAlreadyStartedError:
                already += 1
            async with pool.connection() as conn:
                await conn.execute(
                    """UPDATE campaign_accounts SET started_at = now()
                       WHERE campaign_id = %s AND account_id = %s AND started_at IS NULL""",
                    (campaign_id, account_id),
                )
            if on_started is not None:
                on_started(1)

    await asyncio.gather(*(start_one(*row) for row in pending))
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE campaigns SET status = 'started' WHERE campaign_id = %s", (campaign_id,)
        )
    return StartSummary(campaign_id=campaign_id, started=started, already_running=already)
