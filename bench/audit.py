"""Cost of `cobranza audit campaign --verify` beside merely fetching the same histories.

    .venv/bin/python bench/audit.py [--accounts 1000] [--concurrency 8]
    .venv/bin/python bench/audit.py --reuse CAMPAIGN_ID   # TEMPORAL_ADDRESS, DATABASE_URL set

Without --reuse it starts a fresh Temporal dev server (in memory) and a fresh database on
DATABASE_URL (or an embedded Postgres), and runs a campaign of N accounts with a short strategy
(one contact, two waits, a promise check, an escalation, the close: 7 log rows per account)
until every collection has closed. Then, against the same servers, it times:
  fetch   every account's histories (all runs of all collections), nothing else;
  verify  the real CLI, `cobranza audit campaign ID --verify`, in a subprocess: hash chain,
          reconciliation, replay and PII scan of every account.
It prints both figures and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.channels import SimulatedProvider, SimulatedProviderConfig
from cobranza.audit.history import fetch_account_history
from cobranza.audit.verify import campaign_accounts
from cobranza.binaries import temporal_cli
from cobranza.campaigns import import_campaign
from cobranza.compliance import ContactRules, load_contact_rules
from cobranza.db import open_pool, scratch_database
from cobranza.domain import Channel, DocumentType, MessagePurpose
from cobranza.models import CollectionInput, workflow_id_for
from cobranza.portfolio import PortfolioRow
from cobranza.search_attributes import ALL_KEYS
from cobranza.settings import Settings
from cobranza.strategy import Strategy
from cobranza.temporal import build_worker
from workflows.collection import CollectionWorkflow

REPO = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "cobranza"


def bench_strategy() -> Strategy:
    # A fraud alert (Ley 2300 Art. 8) is exempt from the caps and, with bench_rules, from the
    # window: the bench runs the same at any hour.
    return Strategy.model_validate(
        {
            "name": "bench-audit",
            "version": "1",
            "steps": [
                {
                    "id": "c1",
                    "kind": "contact",
                    "channel": "sms",
                    "template": "preventiva_recordatorio",
                    "purpose": "fraud_alert",
                },
                {"id": "w1", "kind": "wait", "duration": "1s"},
                {"id": "p1", "kind": "promise_check", "grace": "1s"},
                {"id": "adm", "kind": "escalate", "to_stage": "administrativa"},
                {"id": "w2", "kind": "wait", "duration": "1s"},
                {"id": "end", "kind": "close", "outcome": "exhausted"},
            ],
        }
    )


def bench_rules() -> ContactRules:
    return load_contact_rules().model_copy(
        update={
            "version": "bench",
            "window_exempt_purposes": frozenset({MessagePurpose.FRAUD_ALERT}),
            "count_exempt_in_caps": False,
        }
    )


async def open_count(pool: AsyncConnectionPool, campaign_id: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT count(*) FROM campaign_accounts ca
               LEFT JOIN collections c ON c.account_id = ca.account_id
                    AND c.campaign_id = ca.campaign_id
               WHERE ca.campaign_id = %s AND c.closed_at IS NULL""",
            (campaign_id,),
        )
        found = await cur.fetchone()
        return int(found[0]) if found else 0


async def run_campaign(client: Client, pool: AsyncConnectionPool, accounts: int) -> str:
    campaign_id = f"bench-audit-{uuid.uuid4().hex[:6]}"
    strategy = bench_strategy()
    rules = bench_rules()
    rows = [
        PortfolioRow(
            line=i + 2,
            account_id=f"BA{uuid.uuid4().hex[:10]}",
            document_type=DocumentType.CC,
            document_number=str(30_000_000 + i),
            full_name=f"Persona Prueba {i:04d} Auditoria",
            product="tarjeta_credito",
            balance_cop=1_000_000,
            days_past_due=5,
            phone=f"+57300{i:07d}",
            email=f"persona{i}@example.co",
            address=None,
            city=None,
            authorized_channels=frozenset({Channel.SMS}),
        )
        for i in range(accounts)
    ]
    await import_campaign(
        pool,
        campaign_id=campaign_id,
        strategy=strategy.name,
        file_name="bench.csv",
        file_sha256=campaign_id,
        rows=rows,
    )
    queue = f"bench-audit-{uuid.uuid4().hex[:6]}"
    silent = SimulatedProvider(SimulatedProviderConfig(reply_rate=0, failure_rate=0))
    started = time.perf_counter()
    async with build_worker(client, pool, Settings(task_queue=queue), adapter=silent):
        gate = asyncio.Semaphore(64)

        async def start(row: PortfolioRow) -> None:
            async with gate:
                await client.start_workflow(
                    CollectionWorkflow.run,
                    CollectionInput(
                        account_id=row.account_id,
                        campaign_id=campaign_id,
                        strategy=strategy,
                        balance_cop=row.balance_cop,
                        days_past_due=row.days_past_due,
                        product=row.product,
                        contact_rules=rules,
                    ),
                    id=workflow_id_for(row.account_id),
                    task_queue=queue,
                )

        await asyncio.gather(*(start(row) for row in rows))
        deadline = time.monotonic() + 600
        while (remaining := await open_count(pool, campaign_id)) > 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"{remaining} collections still open after 10 minutes")
            await asyncio.sleep(1)
    print(f"campaign  {accounts} accounts run to the end in {time.perf_counter() - started:.1f} s")
    return campaign_id


async def time_fetch(
    client: Client, pool: AsyncConnectionPool, campaign_id: str, concurrency: int
) -> tuple[float, int, int]:
    accounts = await campaign_accounts(pool, campaign_id)
    gate = asyncio.Semaphore(concurrency)
    runs = 0

    async def fetch(account_id: str) -> None:
        nonlocal runs
        async with gate:
            account = await fetch_account_history(client, account_id)
            runs += len(account.runs)

    started = time.perf_counter()
    await asyncio.gather(*(fetch(a) for a in accounts))
    return time.perf_counter() - started, len(accounts), runs


def time_cli_verify(address: str, database_url: str, campaign_id: str, concurrency: int) -> float:
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "DATABASE_URL": database_url}
    started = time.perf_counter()
    done = subprocess.run(
        [str(CLI), "audit", "campaign", campaign_id, "--verify", "--concurrency", str(concurrency)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    summary = [line for line in done.stdout.splitlines() if "aprobadas" in line]
    print(f"verify    CLI exit code {done.returncode}: {summary[-1] if summary else done.stdout}")
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", file=sys.stderr)
        raise SystemExit("audit campaign --verify failed")
    return elapsed


@contextlib.asynccontextmanager
async def servers(reuse: bool) -> AsyncIterator[tuple[Client, str, str]]:
    if reuse:
        address = os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233")
        url = os.environ.get("DATABASE_URL")
        if not url:
            raise SystemExit("--reuse needs DATABASE_URL (and TEMPORAL_ADDRESS)")
        client = await Client.connect(address, data_converter=pydantic_data_converter)
        yield client, address, url
        return
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_cli(),
        search_attributes=ALL_KEYS,
    )
    try:
        with scratch_database("cobranza_bench_audit") as url:
            yield env.client, env.client.service_client.config.target_host, url
    finally:
        await env.shutdown()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--reuse", metavar="CAMPAIGN_ID", help="audit an existing campaign")
    args = parser.parse_args()
    async with servers(args.reuse is not None) as (client, address, url):
        async with open_pool(url, max_size=max(10, args.concurrency + 2)) as pool:
            campaign_id = args.reuse or await run_campaign(client, pool, args.accounts)
            fetch_s, accounts, runs = await time_fetch(client, pool, campaign_id, args.concurrency)
        verify_s = time_cli_verify(address, url, campaign_id, args.concurrency)
    print(
        f"fetch     {accounts} accounts, {runs} runs: {fetch_s:7.2f} s "
        f"({accounts / fetch_s:6.1f} accounts/s), concurrency {args.concurrency}"
    )
    print(
        f"verify    audit campaign --verify:      {verify_s:7.2f} s "
        f"({accounts / verify_s:6.1f} accounts/s), same concurrency, process start included"
    )
    print(f"ratio     verify / fetch = {verify_s / fetch_s:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
    # The SDK's runtime threads can crash interpreter teardown now and then (after the figures
    # are out); leave without it so the exit code says how the bench went.
    sys.stdout.flush()
    os._exit(0)
