"""Campaign activities: read pending accounts, start their workflows, signal them, keep the row.

Starting workflows from activities, in batches with bounded concurrency on the worker's shared
client, is what keeps a campaign near the server's start ceiling (~340 starts/s on the 2-core dev
machine, bench/campaign_start.py): each start is one RPC with no extra history anywhere. Child
workflows would add ~5 events per account to the campaign's history (initiated, started, and the
workflow tasks around them), cost the campaign a workflow task per completion and force far more
frequent continue-as-new, and the campaign could not outlive a child's parent-close policy.

Exactly once: the account workflow id is ``collection-<account_id>`` (default conflict policy, so
a second start of a running one fails) and ``campaign_accounts.started_at`` marks it in Postgres.
A start that succeeded before its mark was written shows up on retry as an existing run whose
input names this campaign: it counts as started, once. A running collection of another campaign
(or of none) makes the account skipped, never started twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError
from temporalio import activity
from temporalio.api.common.v1 import Payloads, WorkflowExecution
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from cobranza.campaign_models import (
    AccountToStart,
    CampaignCounts,
    CampaignOpenCount,
    CampaignStatusUpdate,
    PageRequest,
    PendingPage,
    SignalCommand,
    SignalTotals,
    StartBatch,
    StartBatchResult,
)
from cobranza.models import CollectionInput, ControlRequest, workflow_id_for

_UNRESOLVED = "started_at IS NULL AND skipped_reason IS NULL AND failed_reason IS NULL"
# Start errors that retrying cannot fix: the account is marked failed with the reason.
_PERMANENT = {RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION}
# The account workflow's signal names (CollectionWorkflow.pause / resume / cancel).
_SIGNALS = {"pause": "pause", "resume": "resume", "cancel": "cancel"}

Outcome = tuple[Literal["started", "skipped", "failed"], str | None]


class CampaignActivities:
    def __init__(self, pool: AsyncConnectionPool, client: Client) -> None:
        self._pool = pool
        self._client = client

    # --- fan-out ---------------------------------------------------------------------------------

    @activity.defn(name="campaign_fetch_page")
    async def fetch_page(self, request: PageRequest) -> PendingPage:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"""SELECT ca.account_id, ca.line, ca.balance_cop, ca.days_past_due,
                           coalesce(ca.product, a.product)
                    FROM campaign_accounts ca JOIN accounts a USING (account_id)
                    WHERE ca.campaign_id = %s AND {_UNRESOLVED}
                      AND (ca.line, ca.account_id) > (%s, %s)
                    ORDER BY ca.line, ca.account_id LIMIT %s""",
                (request.campaign_id, request.after_line, request.after_account, request.limit),
            )
            rows = await cur.fetchall()
            counts = await _counts(conn, request.campaign_id)
        return PendingPage(
            accounts=[
                AccountToStart(
                    account_id=account_id,
                    line=line,
                    balance_cop=balance,
                    days_past_due=dpd,
                    product=product,
                )
                for account_id, line, balance, dpd, product in rows
            ],
            counts=counts,
        )

    @activity.defn(name="campaign_start_accounts")
    async def start_accounts(self, batch: StartBatch) -> StartBatchResult:
        """Start every account of the batch once; returns the batch's outcome as Postgres has it."""
        ids = [account.account_id for account in batch.accounts]
        todo = batch.accounts
        if activity.info().attempt > 1:
            # An earlier attempt may have marked some before dying: those are settled.
            settled = await self._resolved(batch.campaign_id, ids)
            todo = [account for account in todo if account.account_id not in settled]
        gate = asyncio.Semaphore(batch.concurrency)
        retry = activity.info().attempt > 1
        outcomes: dict[str, Outcome] = {}

        async def one(account: AccountToStart) -> None:
            async with gate:
                outcomes[account.account_id] = await self._start_one(batch, account, retry)
                activity.heartbeat()

        await asyncio.gather(*(one(account) for account in todo))
        await self._mark(batch.campaign_id, outcomes)
        return await self._batch_result(batch.campaign_id, ids)

    async def _start_one(self, batch: StartBatch, account: AccountToStart, retry: bool) -> Outcome:
        workflow_id = workflow_id_for(account.account_id)
        if retry and await self._owner(workflow_id) == batch.campaign_id:
            return ("started", None)  # started by an attempt that died before marking it
        try:
            collection = CollectionInput(
                account_id=account.account_id,
                campaign_id=batch.campaign_id,
                strategy=batch.strategy,
                balance_cop=account.balance_cop,
                days_past_due=account.days_past_due,
                product=account.product,
            )
        except ValidationError as err:
            return ("failed", f"invalid_input: {err.error_count()} error(s)")
        try:
            await self._client.start_workflow(
                "CollectionWorkflow",
                collection,
                id=workflow_id,
                task_queue=batch.task_queue,
                # No search attributes at start: measured, they cost ~10% of the start rate; the
                # workflow publishes CampaignId itself on its first task.
            )
            return ("started", None)
        except WorkflowAlreadyStartedError:
            owner = await self._owner(workflow_id)
            if owner == batch.campaign_id:
                return ("started", None)
            return ("skipped", owner or "")
        except RPCError as err:
            if err.status in _PERMANENT:
                return ("failed", f"start_rejected: {err.status.name}")
            raise

    async def _owner(self, workflow_id: str) -> str | None:
        """The campaign in the input of the latest run of ``workflow_id`` (None if no run).

        Read from the run's first history event, so only retries and conflicts pay for it.
        """
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            async for event in handle.fetch_history_events(page_size=1):
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                if not payloads:
                    return None
                # A plain dict, not CollectionInput: any past version of the input decodes.
                [started] = await self._client.data_converter.decode([payloads[0]], [dict])
                campaign = started.get("campaign_id") if isinstance(started, dict) else None
                return str(campaign) if campaign else None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return None

    async def _resolved(self, campaign_id: str, ids: list[str]) -> set[str]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"""SELECT account_id FROM campaign_accounts
                    WHERE campaign_id = %s AND account_id = ANY(%s) AND NOT ({_UNRESOLVED})""",
                (campaign_id, ids),
            )
            return {row[0] for row in await cur.fetchall()}

    async def _mark(self, campaign_id: str, outcomes: dict[str, Outcome]) -> None:
        started = [a for a, (kind, _) in outcomes.items() if kind == "started"]
        skipped = [(a, other) for a, (kind, other) in outcomes.items() if kind == "skipped"]
        failed = [(a, why) for a, (kind, why) in outcomes.items() if kind == "failed"]
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                f"""UPDATE campaign_accounts SET started_at = now()
                    WHERE campaign_id = %s AND account_id = ANY(%s) AND {_UNRESOLVED}""",
                (campaign_id, started),
            )
            n_started = cur.rowcount
            cur = await conn.execute(
                f"""UPDATE campaign_accounts ca
                    SET skipped_reason = 'open_collection_elsewhere',
                        conflict_campaign_id = nullif(u.other, '')
                    FROM unnest(%s::text[], %s::text[]) AS u(account_id, other)
                    WHERE ca.campaign_id = %s AND ca.account_id = u.account_id
                      AND {_UNRESOLVED}""",
                ([a for a, _ in skipped], [o or "" for _, o in skipped], campaign_id),
            )
            n_skipped = cur.rowcount
            cur = await conn.execute(
                f"""UPDATE campaign_accounts ca SET failed_reason = u.why
                    FROM unnest(%s::text[], %s::text[]) AS u(account_id, why)
                    WHERE ca.campaign_id = %s AND ca.account_id = u.account_id
                      AND {_UNRESOLVED}""",
                ([a for a, _ in failed], [w or "" for _, w in failed], campaign_id),
            )
            n_failed = cur.rowcount
            # Counters move by the rows this transaction changed: exact under retries.
            await conn.execute(
                """UPDATE campaigns SET accounts_started = accounts_started + %s,
                       accounts_skipped = accounts_skipped + %s,
                       accounts_failed = accounts_failed + %s, updated_at = now()
                   WHERE campaign_id = %s""",
                (n_started, n_skipped, n_failed, campaign_id),
            )

    async def _batch_result(self, campaign_id: str, ids: list[str]) -> StartBatchResult:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT count(*) FILTER (WHERE started_at IS NOT NULL),
                          count(*) FILTER (WHERE skipped_reason IS NOT NULL),
                          count(*) FILTER (WHERE failed_reason IS NOT NULL)
                   FROM campaign_accounts WHERE campaign_id = %s AND account_id = ANY(%s)""",
                (campaign_id, ids),
            )
            found = await cur.fetchone()
        assert found is not None
        return StartBatchResult(started=found[0], skipped=found[1], failed=found[2])

    # --- controls --------------------------------------------------------------------------------

    @activity.defn(name="campaign_signal_accounts")
    async def signal_accounts(self, command: SignalCommand) -> SignalTotals:
        """Deliver one pause / resume / cancel to every started account, resumably.

        Each account is marked with the control's seq once reached, so a retry continues where the
        last attempt stopped; the signal's request id is fixed per (campaign, seq, account), so
        the server drops a re-sent signal that had already arrived.
        """
        await self._open_control(command)
        payloads = await self._client.data_converter.encode(
            [ControlRequest(requested_by=command.requested_by, reason=command.reason)]
        )
        gate = asyncio.Semaphore(command.concurrency)
        after: tuple[int, str] = (0, "")
        while True:
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    """SELECT line, account_id FROM campaign_accounts
                       WHERE campaign_id = %s AND started_at IS NOT NULL AND control_seq < %s
                         AND (line, account_id) > (%s, %s)
                       ORDER BY line, account_id LIMIT 500""",
                    (command.campaign_id, command.seq, *after),
                )
                rows = await cur.fetchall()
            if not rows:
                break
            after = (rows[-1][0], rows[-1][1])

            async def one(account_id: str) -> bool:
                async with gate:
                    return await self._signal(command, account_id, payloads)

            reached = await asyncio.gather(*(one(account_id) for _, account_id in rows))
            ids = [account_id for _, account_id in rows]
            delivered = [a for a, ok in zip(ids, reached, strict=True) if ok]
            closed = [a for a, ok in zip(ids, reached, strict=True) if not ok]
            await self._mark_control(command, delivered, closed)
            activity.heartbeat(after)
        return await self._close_control(command)

    async def _signal(self, command: SignalCommand, account_id: str, payloads: Any) -> bool:
        """Signal the account's current run; False when its collection has already ended."""
        request_id = str(
            uuid.uuid5(
                uuid.NAMESPACE_URL, f"campaign:{command.campaign_id}:{command.seq}:{account_id}"
            )
        )
        request = SignalWorkflowExecutionRequest(
            namespace=self._client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id_for(account_id)),
            signal_name=_SIGNALS[command.action],
            input=Payloads(payloads=payloads),
            identity=self._client.identity,
            request_id=request_id,
        )
        try:
            await self._client.workflow_service.signal_workflow_execution(request, retry=True)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def _open_control(self, command: SignalCommand) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO campaign_controls (campaign_id, seq, action, requested_by, reason,
                       requested_at) VALUES (%s, %s, %s, %s, %s, %s)
                   ON CONFLICT (campaign_id, seq) DO NOTHING""",
                (
                    command.campaign_id,
                    command.seq,
                    command.action,
                    command.requested_by,
                    command.reason,
                    datetime.now(UTC),
                ),
            )
            if command.action in ("pause", "resume"):
                await conn.execute(
                    "UPDATE campaigns SET paused = %s, updated_at = now() WHERE campaign_id = %s",
                    (command.action == "pause", command.campaign_id),
                )

    async def _mark_control(
        self, command: SignalCommand, delivered: list[str], closed: list[str]
    ) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            counts: list[int] = []
            for ids in (delivered, closed):
                cur = await conn.execute(
                    """UPDATE campaign_accounts SET control_seq = %s
                       WHERE campaign_id = %s AND account_id = ANY(%s) AND control_seq < %s""",
                    (command.seq, command.campaign_id, ids, command.seq),
                )
                counts.append(cur.rowcount)
            await conn.execute(
                """UPDATE campaign_controls SET accounts_signalled = accounts_signalled + %s,
                       accounts_closed = accounts_closed + %s
                   WHERE campaign_id = %s AND seq = %s""",
                (counts[0], counts[1], command.campaign_id, command.seq),
            )

    async def _close_control(self, command: SignalCommand) -> SignalTotals:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                """UPDATE campaign_controls SET finished_at = coalesce(finished_at, now())
                   WHERE campaign_id = %s AND seq = %s
                   RETURNING accounts_signalled, accounts_closed""",
                (command.campaign_id, command.seq),
            )
            totals = await cur.fetchone()
            cur = await conn.execute(
                f"SELECT count(*) FROM campaign_accounts WHERE campaign_id = %s AND {_UNRESOLVED}",
                (command.campaign_id,),
            )
            pending = await cur.fetchone()
        assert totals is not None and pending is not None
        return SignalTotals(signalled=totals[0], already_closed=totals[1], not_started=pending[0])

    # --- the campaign row ------------------------------------------------------------------------

    @activity.defn(name="campaign_set_status")
    async def set_status(self, update: CampaignStatusUpdate) -> CampaignCounts:
        """Move the campaign forward (never back); cancelling settles every unstarted account."""
        campaign_id = update.campaign_id
        async with self._pool.connection() as conn, conn.transaction():
            if update.status == "starting":
                await conn.execute(
                    """UPDATE campaigns SET status = 'starting', workflow_id = %s,
                           fanout_started_at = coalesce(fanout_started_at, now()),
                           updated_at = now()
                       WHERE campaign_id = %s AND status IN ('imported', 'starting')""",
                    (update.workflow_id, campaign_id),
                )
            elif update.status == "started":
                await conn.execute(
                    """UPDATE campaigns SET status = 'started',
                           fanout_done_at = coalesce(fanout_done_at, now()), updated_at = now()
                       WHERE campaign_id = %s AND status IN ('imported', 'starting')""",
                    (campaign_id,),
                )
            elif update.status == "cancelled":
                cur = await conn.execute(
                    f"""UPDATE campaign_accounts SET skipped_reason = 'campaign_cancelled'
                        WHERE campaign_id = %s AND {_UNRESOLVED}""",
                    (campaign_id,),
                )
                await conn.execute(
                    """UPDATE campaigns SET status = 'cancelled', paused = false,
                           accounts_skipped = accounts_skipped + %s,
                           finished_at = coalesce(finished_at, now()), updated_at = now()
                       WHERE campaign_id = %s AND status <> 'cancelled'""",
                    (cur.rowcount, campaign_id),
                )
            elif update.status == "completed":
                await conn.execute(
                    """UPDATE campaigns SET status = 'completed',
                           finished_at = coalesce(finished_at, now()), updated_at = now()
                       WHERE campaign_id = %s AND status NOT IN ('completed', 'cancelled')""",
                    (campaign_id,),
                )
            return await _counts(conn, campaign_id)

    @activity.defn(name="campaign_open_count")
    async def open_count(self, campaign_id: str) -> CampaignOpenCount:
        """Started accounts whose collection for this campaign has not closed yet."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """SELECT count(*) FROM campaign_accounts ca
                   WHERE ca.campaign_id = %s AND ca.started_at IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM collections c
                                     WHERE c.account_id = ca.account_id
                                       AND c.campaign_id = ca.campaign_id
                                       AND c.outcome IS NOT NULL)""",
                (campaign_id,),
            )
            found = await cur.fetchone()
        assert found is not None
        return CampaignOpenCount(open=found[0])

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [
            self.fetch_page,
            self.start_accounts,
            self.signal_accounts,
            self.set_status,
            self.open_count,
        ]


async def _counts(conn: psycopg.AsyncConnection[Any], campaign_id: str) -> CampaignCounts:
    cur = await conn.execute(
        """SELECT accounts_total, accounts_started, accounts_skipped, accounts_failed
           FROM campaigns WHERE campaign_id = %s""",
        (campaign_id,),
    )
    found = await cur.fetchone()
    if found is None:
        # Retried, not fatal: a worker pointed at the wrong database must not end the campaign
        # (another worker, or this one fixed, takes the retry).
        raise ApplicationError(f"campaign {campaign_id} is not in Postgres", type="UnknownCampaign")
    total, started, skipped, failed = found
    return CampaignCounts(total=total, started=started, skipped=skipped, failed=failed)
