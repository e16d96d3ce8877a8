"""Shared helpers for integration tests: accounts in Postgres, a worker on a private queue."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from cobranza.campaigns import import_campaign
from cobranza.domain import BOGOTA, Channel, DocumentType
from cobranza.models import CollectionInput, CollectionResult, workflow_id_for
from cobranza.portfolio import PortfolioRow
from cobranza.settings import Settings
from cobranza.strategy import Strategy, load_strategy
from cobranza.temporal import build_worker
from workflows.collection import CollectionWorkflow

ALL_CHANNELS = frozenset(
    {Channel.SMS, Channel.EMAIL, Channel.WHATSAPP, Channel.CALL, Channel.LETTER}
)


def make_row(
    line: int = 2,
    *,
    balance_cop: int = 1_500_000,
    days_past_due: int = 0,
    account_id: str | None = None,
    document_number: str | None = None,
) -> PortfolioRow:
    suffix = uuid.uuid4().hex[:8]
    return PortfolioRow(
        line=line,
        account_id=account_id or f"acc-{suffix}",
        document_type=DocumentType.CC,
        # 10 digits from a whole uuid: tests share a database, and debtors are unique by document.
        document_number=document_number or str(1_000_000_000 + uuid.uuid4().int % 9_000_000_000),
        full_name="Ana María Pérez Núñez",
        product="tarjeta_credito",
        balance_cop=balance_cop,
        days_past_due=days_past_due,
        phone="+573001234567",
        email="ana.perez@example.co",
        address="Calle 10 # 5-20",
        city="Bogotá",
        authorized_channels=ALL_CHANNELS,
    )


async def seed_accounts(
    pool: AsyncConnectionPool,
    rows: list[PortfolioRow],
    campaign_id: str | None = None,
    strategy: str = "default",
) -> str:
    campaign_id = campaign_id or f"c-{uuid.uuid4().hex[:8]}"
    await import_campaign(
        pool,
        campaign_id=campaign_id,
        strategy=strategy,
        file_name="test.csv",
        file_sha256=uuid.uuid4().hex,
        rows=rows,
    )
    return campaign_id


@contextlib.asynccontextmanager
async def running_worker(
    client: Client, pool: AsyncConnectionPool, task_queue: str, **kwargs: object
) -> AsyncIterator[Worker]:
    settings = Settings(task_queue=task_queue)
    worker = build_worker(client, pool, settings, **kwargs)  # type: ignore[arg-type]
    async with worker:
        yield worker


async def start_collection(
    client: Client,
    row: PortfolioRow,
    task_queue: str,
    strategy: Strategy | None = None,
    campaign_id: str | None = None,
) -> WorkflowHandle[CollectionWorkflow, CollectionResult]:
    return await client.start_workflow(
        CollectionWorkflow.run,
        CollectionInput(
            account_id=row.account_id,
            campaign_id=campaign_id,
            strategy=strategy or load_strategy("default"),
            balance_cop=row.balance_cop,
            days_past_due=row.days_past_due,
            product=row.product,
        ),
        id=workflow_id_for(row.account_id),
        task_queue=task_queue,
        # Bounds how far the time-skipping clock jumps when a result is awaited (conftest).
        execution_timeout=timedelta(days=200),
    )


async def log_rows(pool: AsyncConnectionPool, account_id: str) -> list[dict[str, Any]]:
    from activities.steplog import fetch_log

    return await fetch_log(pool, account_id)


async def kinds(pool: AsyncConnectionPool, account_id: str) -> list[str]:
    return [str(r["kind"]) for r in await log_rows(pool, account_id)]


# --- campaigns -------------------------------------------------------------------------------------


def hold_strategy() -> Strategy:
    """Accounts that open, then wait a month: cheap to run by the thousand on the dev server."""
    from datetime import timedelta

    from cobranza.domain import Outcome
    from cobranza.strategy import CloseStep, WaitStep

    return Strategy(
        name="hold",
        version="test",
        steps=[
            WaitStep(id="hold", duration=timedelta(days=30)),
            CloseStep(id="end", outcome=Outcome.EXHAUSTED),
        ],
    )


def campaign_rows(count: int, prefix: str) -> list[PortfolioRow]:
    """``count`` valid rows with account ids ``<prefix>-00000``..., one debtor each."""
    return [
        make_row(line=index + 2, account_id=f"{prefix}-{index:05d}", days_past_due=index % 90)
        for index in range(count)
    ]


def server_address(client: Client) -> str:
    return client.service_client.config.target_host


async def business_morning(env: WorkflowEnvironment) -> None:
    """Move the time-skipping clock (forward only) to the next Tuesday 09:00 in Bogota, so a test
    that reads the first steps' order does not depend on the hour or weekday CI runs at."""
    now = (await env.get_current_time()).astimezone(BOGOTA)
    day = now.date() + timedelta(days=1)
    while day.weekday() != 1:
        day += timedelta(days=1)
    target = datetime.combine(day, time(9, 0), tzinfo=BOGOTA)
    await env.sleep(target - now)
