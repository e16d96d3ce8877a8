"""CampaignWorkflow on the dev server with real Postgres: fan-out, exactly once, history bound,
controls reaching every account, and the search attributes ops query.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from cobranza.campaign_models import FanoutOptions, campaign_workflow_id
from cobranza.campaigns import (
    CampaignControlError,
    control_campaign,
    get_campaign,
    import_campaign,
    start_campaign,
)
from cobranza.portfolio import PortfolioRow
from tests.integration.support import (
    campaign_rows,
    hold_strategy,
    kinds,
    make_row,
    running_worker,
    seed_accounts,
    start_collection,
)
from workflows.campaign import CampaignWorkflow

pytestmark = pytest.mark.integration

# Fan-out settings small enough that a 2,000-account campaign spans many runs and batches.
SMALL_PAGES = FanoutOptions(page_size=250, batch_size=50, max_batches_in_flight=4)
# Events of one run with SMALL_PAGES: 5 batches plus the page read and the workflow tasks around
# them. It depends on the page and batch sizes only, never on the campaign's size.
HISTORY_BOUND = 60


async def poll(check, timeout: float = 60, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Await ``check()`` until it returns a truthy value, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def seed(pool: AsyncConnectionPool, rows: list[PortfolioRow], campaign_id: str) -> None:
    await import_campaign(
        pool,
        campaign_id=campaign_id,
        strategy="hold",
        file_name=f"{campaign_id}.csv",
        file_sha256=uuid.uuid4().hex,
        rows=rows,
    )


async def runs_by_workflow(client: Client, query: str) -> Counter[str]:
    runs: Counter[str] = Counter()
    async for execution in client.list_workflows(query):
        runs[execution.id] += 1
    return runs


def accounts_query(prefix: str) -> str:
    # By workflow id, not CampaignId: accounts no worker runs have not published it yet.
    return f'WorkflowId STARTS_WITH "collection-{prefix}-" AND WorkflowType = "CollectionWorkflow"'


async def visible_accounts(client: Client, campaign_id: str, expected: int) -> Counter[str]:
    """Every run of the campaign's account workflows, once visibility has caught up."""
    query = accounts_query(campaign_id)

    async def caught_up() -> Counter[str] | None:
        runs = await runs_by_workflow(client, query)
        return runs if sum(runs.values()) >= expected else None

    return await poll(caught_up, what=f"{expected} runs visible for {campaign_id}")


async def campaign_status_is(pool: AsyncConnectionPool, campaign_id: str, status: str) -> None:
    async def reached() -> bool:
        row = await get_campaign(pool, campaign_id)
        return row is not None and row.status == status

    await poll(reached, what=f"campaign {campaign_id} {status}")


async def test_two_thousand_accounts_start_exactly_once_with_bounded_history(
    dev_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    """The fan-out itself: the accounts go to a queue no worker polls, so each costs the server
    one pending workflow task and the machine runs only the campaign."""
    client = dev_env.client
    campaign_id = f"c2k-{uuid.uuid4().hex[:6]}"
    rows = campaign_rows(2000, campaign_id)
    await seed(pool, rows, campaign_id)
    async with running_worker(client, pool, task_queue):
        summary = await start_campaign(
            client,
            pool,
            campaign_id=campaign_id,
            strategy=hold_strategy(),
            task_queue=task_queue,
            account_task_queue=f"{task_queue}-accounts",
            options=SMALL_PAGES,
            timeout=120,
        )
        assert summary.started == 2000
        row = await get_campaign(pool, campaign_id)
        assert row is not None
        assert (row.accounts_started, row.accounts_skipped, row.accounts_failed) == (2000, 0, 0)
        await campaign_status_is(pool, campaign_id, "started")

        # Exactly once in Temporal: one run per account, no account missing, none extra.
        runs = await visible_accounts(client, campaign_id, 2000)
        assert set(runs) == {f"collection-{r.account_id}" for r in rows}
        assert set(runs.values()) == {1}

        # The campaign's progress query agrees with Postgres.
        handle = client.get_workflow_handle_for(
            CampaignWorkflow.run, campaign_workflow_id(campaign_id)
        )
        progress = await handle.query(CampaignWorkflow.progress)
        assert (progress.total, progress.started, progress.pending) == (2000, 2000, 0)
        assert progress.phase == "watching"

        # Continue-as-new per page: many small runs instead of one growing history.
        lengths = []
        async for execution in client.list_workflows(
            f'WorkflowId = "{campaign_workflow_id(campaign_id)}"'
        ):
            history = await client.get_workflow_handle(
                execution.id, run_id=execution.run_id
            ).fetch_history()
            lengths.append(len(history.events))
        assert len(lengths) >= 2000 // SMALL_PAGES.page_size
        assert max(lengths) <= HISTORY_BOUND, lengths

        # Launching the same campaign again starts nothing new.
        again = await start_campaign(
            client,
            pool,
            campaign_id=campaign_id,
            strategy=hold_strategy(),
            task_queue=task_queue,
            account_task_queue=f"{task_queue}-accounts",
            options=SMALL_PAGES,
        )
        assert again.started == 0
        assert sum((await runs_by_workflow(client, accounts_query(campaign_id))).values()) == 2000


async def test_pause_resume_cancel_reach_every_account_and_are_logged(
    dev_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    client = dev_env.client
    campaign_id = f"ctl-{uuid.uuid4().hex[:6]}"
    rows = campaign_rows(120, campaign_id)
    await seed(pool, rows, campaign_id)
    # One small batch at a time, so the pause lands while accounts are still being started.
    slow = FanoutOptions(page_size=40, batch_size=5, max_batches_in_flight=1)
    async with running_worker(client, pool, task_queue):
        launched = asyncio.create_task(
            start_campaign(
                client,
                pool,
                campaign_id=campaign_id,
                strategy=hold_strategy(),
                task_queue=task_queue,
                options=slow,
            )
        )

        async def some_started() -> bool:
            row = await get_campaign(pool, campaign_id)
            return row is not None and row.accounts_started > 0

        await poll(some_started, what="first accounts started")
        paused = await control_campaign(
            client,
            pool,
            campaign_id=campaign_id,
            action="pause",
            requested_by="ops-ana",
            reason="revisión de cartera",
        )
        await launched
        row = await get_campaign(pool, campaign_id)
        assert row is not None and row.paused
        # Every account started by then heard the pause; the rest wait, unstarted.
        assert paused.signalled + paused.already_closed == row.accounts_started
        assert paused.not_started == row.pending > 0
        with pytest.raises(CampaignControlError, match="ya está en pausa"):
            await control_campaign(client, pool, campaign_id=campaign_id, action="pause")
        started_while_paused = [r.account_id for r in rows][: row.accounts_started]

        async def all_logged(kind: str, accounts: list[str]) -> bool:
            logs = await asyncio.gather(*(kinds(pool, a) for a in accounts))
            return all(kind in log for log in logs)

        await poll(lambda: all_logged("paused", started_while_paused), what="paused rows")

        resumed = await control_campaign(client, pool, campaign_id=campaign_id, action="resume")
        assert resumed.signalled == len(started_while_paused)
        await poll(lambda: all_logged("resumed", started_while_paused), what="resumed rows")

        async def all_started() -> bool:
            current = await get_campaign(pool, campaign_id)
            return current is not None and current.accounts_started == len(rows)

        await poll(all_started, what="the rest of the campaign started after resume")

        # Search attributes: ops find the campaign's accounts by stage and outcome, no PII there.
        everyone = {f"collection-{r.account_id}" for r in rows}
        query = (
            f'CampaignId = "{campaign_id}" AND CollectionStage = "preventiva" '
            'AND CollectionOutcome = "open"'
        )

        async def all_open() -> bool:
            return set(await runs_by_workflow(client, query)) == everyone

        await poll(all_open, what="visibility of open accounts")
        late = await runs_by_workflow(client, f'CampaignId = "{campaign_id}" AND DaysPastDue >= 60')
        assert set(late) == {f"collection-{r.account_id}" for r in rows if r.days_past_due >= 60}
        pii = {r.full_name for r in rows} | {r.document_number for r in rows}
        async for execution in client.list_workflows(f'CampaignId = "{campaign_id}"'):
            values = {str(v) for _, v in execution.typed_search_attributes}
            assert not values & pii
            assert all(r.document_number not in execution.id for r in rows[:5])

        cancelled = await control_campaign(
            client,
            pool,
            campaign_id=campaign_id,
            action="cancel",
            requested_by="ops-ana",
            reason="fin de campaña",
        )
        assert cancelled.signalled == len(rows)
        handle = client.get_workflow_handle_for(
            CampaignWorkflow.run, campaign_workflow_id(campaign_id)
        )
        result = await handle.result()
        assert result.status == "cancelled" and result.started == len(rows)
        ids = [r.account_id for r in rows]
        await poll(lambda: all_logged("closed", ids), what="closed rows")
        for account_id in ids[:10]:
            log = await kinds(pool, account_id)
            assert log[-1] == "closed"
        row = await get_campaign(pool, campaign_id)
        assert row is not None and row.status == "cancelled"

        async def all_cancelled() -> bool:
            found = await runs_by_workflow(
                client, f'CampaignId = "{campaign_id}" AND CollectionOutcome = "cancelled"'
            )
            return set(found) == everyone

        await poll(all_cancelled, what="visibility of cancelled accounts")
        with pytest.raises(CampaignControlError, match="cancelada"):
            await control_campaign(client, pool, campaign_id=campaign_id, action="resume")


async def test_account_open_elsewhere_is_skipped_not_duplicated(
    dev_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    client = dev_env.client
    busy = make_row(account_id=f"busy-{uuid.uuid4().hex[:6]}")
    racing = make_row(account_id=f"race-{uuid.uuid4().hex[:6]}")
    free = make_row(account_id=f"free-{uuid.uuid4().hex[:6]}")
    async with running_worker(client, pool, task_queue):
        # `busy` has an open collection from campaign A when campaign B is imported.
        first = await seed_accounts(pool, [busy], strategy="hold")
        await start_collection(client, busy, task_queue, hold_strategy(), campaign_id=first)

        async def opened() -> bool:
            return "opened" in await kinds(pool, busy.account_id)

        await poll(opened, what="campaign A's collection to open")
        campaign_id = f"dup-{uuid.uuid4().hex[:6]}"
        # `racing` gets a collection outside any campaign after B is imported: the start sees it.
        summary = await import_campaign(
            pool,
            campaign_id=campaign_id,
            strategy="hold",
            file_name="dup.csv",
            file_sha256=uuid.uuid4().hex,
            rows=[busy, racing, free],
        )
        assert [s.account_id for s in summary.skipped] == [busy.account_id]
        assert first in summary.skipped[0].reason
        await start_collection(client, racing, task_queue, hold_strategy())
        result = await start_campaign(
            client, pool, campaign_id=campaign_id, strategy=hold_strategy(), task_queue=task_queue
        )
        assert result.started == 1
        row = await get_campaign(pool, campaign_id)
        assert row is not None
        assert (row.accounts_started, row.accounts_skipped) == (1, 2)
        progress = await client.get_workflow_handle_for(
            CampaignWorkflow.run, campaign_workflow_id(campaign_id)
        ).query(CampaignWorkflow.progress)
        assert (progress.total, progress.started, progress.skipped, progress.pending) == (
            3,
            1,
            2,
            0,
        )
        description = await client.get_workflow_handle(f"collection-{busy.account_id}").describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        from cobranza.search_attributes import CAMPAIGN_ID

        assert description.typed_search_attributes.get(CAMPAIGN_ID) == first
        async with pool.connection() as conn:
            cur = await conn.execute(
                """SELECT account_id, skipped_reason FROM campaign_accounts
                   WHERE campaign_id = %s ORDER BY account_id""",
                (campaign_id,),
            )
            reasons: dict[str, str | None] = dict(await cur.fetchall())
        assert reasons == {
            busy.account_id: "open_collection_elsewhere",
            racing.account_id: "open_collection_elsewhere",
            free.account_id: None,
        }
