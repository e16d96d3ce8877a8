"""Campaign fan-out and portfolio import, each beside its baseline measured in the same run.

    .venv/bin/python bench/campaign_start.py [--accounts 10000] [--import-rows 200000]
                                            [--file-backed]

One fresh Temporal dev server (in memory by default; ``--file-backed`` uses a SQLite file with
the WAL pragmas of `cobranza up`) and one fresh database on DATABASE_URL (or an embedded Postgres):

1. Starts: a client starts ``--accounts`` no-op workflows as fast as the server takes them
   (bounded in flight, on a queue nobody polls): the baseline, measured before and after the
   campaign (the server slows slightly as it fills) and averaged. Then a CampaignWorkflow of the same
   number of accounts, run by one worker in this process, starts its CollectionWorkflows (on a
   queue nobody polls either, so both sides measure starts, not execution). Prints both rates,
   the ratio (target >= 0.8) and the campaign's largest history per run (continue-as-new bound).
2. Import: a generated ``--import-rows`` portfolio file, validated and loaded by the importer in a
   subprocess (its peak RSS is the importer's memory; target < 200 MB), beside a plain COPY of the
   same rows into a table of the same columns. Prints rows/s of the load (staging COPY + upserts
   into debtors, accounts, campaign_accounts in one transaction) against the plain COPY (target
   >= 0.5), and the validation rate on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cobranza.binaries import temporal_cli  # noqa: E402
from cobranza.campaign_models import FanoutOptions, campaign_workflow_id  # noqa: E402
from cobranza.campaigns import (  # noqa: E402
    import_campaign,
    launch_campaign,
    wait_fanout,
)
from cobranza.db import open_pool, scratch_database  # noqa: E402
from cobranza.domain import Channel, DocumentType, Outcome  # noqa: E402
from cobranza.portfolio import PortfolioRow  # noqa: E402
from cobranza.search_attributes import ALL_KEYS  # noqa: E402
from cobranza.settings import Settings  # noqa: E402
from cobranza.strategy import CloseStep, Strategy, WaitStep  # noqa: E402
from cobranza.temporal import build_worker  # noqa: E402

BASELINE_IN_FLIGHT = 200
HEADER = (
    "account_id,document_type,document_number,full_name,product,balance_cop,days_past_due,"
    "phone,email,address,city,authorized_channels\n"
)


def hold_strategy() -> Strategy:
    return Strategy(
        name="hold",
        version="bench",
        steps=[
            WaitStep.model_validate({"id": "hold", "duration": "30d"}),
            CloseStep(id="end", outcome=Outcome.EXHAUSTED),
        ],
    )


def bench_rows(count: int, prefix: str) -> Iterator[PortfolioRow]:
    for index in range(count):
        yield PortfolioRow(
            line=index + 2,
            account_id=f"{prefix}-{index:06d}",
            document_type=DocumentType.CC,
            document_number=str(20_000_000 + index),
            full_name="Deudor Sintético",
            product="tarjeta_credito",
            balance_cop=1_000_000 + index,
            days_past_due=index % 120,
            phone="+573001234567",
            authorized_channels=frozenset({Channel.SMS}),
        )


# --- starts ----------------------------------------------------------------------------------------


async def baseline_starts(client: Client, count: int) -> float:
    queue = f"bench-noop-{uuid.uuid4().hex[:6]}"
    gate = asyncio.Semaphore(BASELINE_IN_FLIGHT)

    async def one(index: int) -> None:
        async with gate:
            await client.start_workflow("BenchNoop", id=f"noop-{queue}-{index}", task_queue=queue)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return count / (time.perf_counter() - started)


async def campaign_starts(
    client: Client, database_url: str, count: int, options: FanoutOptions
) -> dict[str, float]:
    queue = f"bench-campaign-{uuid.uuid4().hex[:6]}"
    campaign_id = f"bench-{uuid.uuid4().hex[:6]}"
    settings = Settings(task_queue=queue, database_url=database_url)
    async with open_pool(database_url, max_size=20) as pool:
        await import_campaign(
            pool,
            campaign_id=campaign_id,
            strategy="hold",
            file_name="bench.csv",
            file_sha256=uuid.uuid4().hex,
            rows=bench_rows(count, campaign_id),
        )
        async with build_worker(client, pool, settings):
            started = time.perf_counter()
            await launch_campaign(
                client,
                pool,
                campaign_id=campaign_id,
                strategy=hold_strategy(),
                task_queue=queue,
                account_task_queue=f"{queue}-accounts",
                options=options,
            )
            row = await wait_fanout(pool, campaign_id, timeout=900, poll=0.05)
            elapsed = time.perf_counter() - started
            assert row.accounts_started == count, row
    lengths = []
    async for execution in client.list_workflows(
        f'WorkflowId = "{campaign_workflow_id(campaign_id)}"'
    ):
        history = await client.get_workflow_handle(
            execution.id, run_id=execution.run_id
        ).fetch_history()
        lengths.append(len(history.events))
    return {
        "rate": count / elapsed,
        "runs": len(lengths),
        "max_events": max(lengths),
    }


# --- import ----------------------------------------------------------------------------------------


def write_portfolio(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(rows):
            out.write(
                f"IMP-{i:07d},CC,{30_000_000 + i},Deudora Sintética {i},tarjeta_credito,"
                f"{100_000 + i},{i % 120},+573{(100_000_000 + i * 7) % 1_000_000_000:09d},"
                f"deudor{i}@example.com,Calle {i % 100} # 1-2,Bogotá,sms|email\n"
            )


# Runs in a subprocess so its peak RSS is the importer's alone.
IMPORTER = r"""
import asyncio, json, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from cobranza.campaigns import import_prepared, prepare_portfolio
from cobranza.db import open_pool

def peak_rss_mb():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (larger) parent.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

async def main(file, url):
    with tempfile.TemporaryDirectory() as work:
        t0 = time.perf_counter()
        prepared = prepare_portfolio(Path(file), Path(work))
        t1 = time.perf_counter()
        async with open_pool(url) as pool:
            await import_prepared(pool, prepared, campaign_id="bench-import", strategy="default")
        t2 = time.perf_counter()
        spool = Path(work) / "rows.copy"
        keep = Path(file).with_suffix(".copy")
        spool.replace(keep)
    print(json.dumps({"rows": prepared.rows, "errors": prepared.errors,
                      "validate_s": t1 - t0, "load_s": t2 - t1,
                      "peak_rss_mb": peak_rss_mb()}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""

PLAIN_TABLE = """CREATE TABLE bench_plain_copy (
    line integer, account_id text, document_type text, document_number text, full_name text,
    product text, balance_cop bigint, days_past_due integer, phone text, email text,
    address text, city text, authorized_channels text[])"""


def copy_into(conn: psycopg.Connection[Any], statement: str, data: Iterable[bytes]) -> None:
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for chunk in data:
            copy.write(chunk)


def spool_chunks(spool: Path) -> Iterator[bytes]:
    with spool.open("rb") as handle:
        yield from iter(lambda: handle.read(1 << 20), b"")


def plain_copy(database_url: str, spool: Path) -> float:
    """The same rows into one table with no index or constraint: the floor of any load."""
    with psycopg.connect(database_url) as conn:
        conn.execute(PLAIN_TABLE)
        started = time.perf_counter()
        copy_into(conn, "COPY bench_plain_copy FROM STDIN", spool_chunks(spool))
        conn.commit()
        return time.perf_counter() - started


def schema_copy(database_url: str, spool: Path) -> float:
    """The same rows COPYed straight into debtors, accounts and campaign_accounts (their indexes,
    unique and foreign keys), as if the file were clean, new and needed no checks: the baseline
    for the importer's load, which does that plus staging, dedupe and upsert."""
    debtors, accounts, members = io.BytesIO(), io.BytesIO(), io.BytesIO()
    for raw in spool.read_bytes().splitlines():
        f = raw.split(b"\t")
        debtor = str(uuid.uuid4()).encode()
        debtors.write(b"\t".join([debtor, f[2], f[3], f[4], f[8], f[9], f[10], f[11], f[12]]))
        debtors.write(b"\n")
        accounts.write(b"\t".join([f[1], debtor, f[5], f[6], f[7]]) + b"\n")
        members.write(b"\t".join([b"bench-copy", f[1], f[0], f[6], f[7], f[5]]) + b"\n")
    with psycopg.connect(database_url) as conn:
        conn.execute(
            """INSERT INTO campaigns (campaign_id, strategy, file_name, file_sha256)
               VALUES ('bench-copy', 'default', 'bench.csv', 'x')"""
        )
        started = time.perf_counter()
        copy_into(
            conn,
            """COPY debtors (debtor_id, document_type, document_number, full_name, phone, email,
                   address, city, authorized_channels) FROM STDIN""",
            [debtors.getvalue()],
        )
        copy_into(
            conn,
            "COPY accounts (account_id, debtor_id, product, balance_cop, days_past_due) FROM STDIN",
            [accounts.getvalue()],
        )
        copy_into(
            conn,
            """COPY campaign_accounts (campaign_id, account_id, line, balance_cop, days_past_due,
                   product) FROM STDIN""",
            [members.getvalue()],
        )
        conn.commit()
        return time.perf_counter() - started


def import_bench(rows: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, scratch_database("cobranza_bench") as importer_db:
        file = Path(tmp) / "cartera.csv"
        write_portfolio(file, rows)
        done = subprocess.run(
            [sys.executable, "-c", IMPORTER, str(file), importer_db, str(ROOT)],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["rows"] == rows and result["errors"] == 0, result
        spool = file.with_suffix(".copy")
        with scratch_database("cobranza_bench") as baseline_db:
            result["schema_copy_s"] = schema_copy(baseline_db, spool)
            result["plain_copy_s"] = plain_copy(baseline_db, spool)
        result["file_mb"] = file.stat().st_size / 1e6
    return result


async def main(accounts: int, import_rows: int, file_backed: bool, options: FanoutOptions) -> None:
    with contextlib.ExitStack() as stack:
        extra: list[str] = ["--log-level", "error"]
        if file_backed:
            state = stack.enter_context(tempfile.TemporaryDirectory())
            extra += ["--db-filename", str(Path(state) / "temporal.db")]
            extra += [
                "--sqlite-pragma",
                "journal_mode=wal",
                "--sqlite-pragma",
                "synchronous=normal",
            ]
        url = stack.enter_context(scratch_database("cobranza_bench"))
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            dev_server_existing_path=temporal_cli(),
            search_attributes=ALL_KEYS,
            dev_server_extra_args=extra,
        )
        try:
            print(
                f"Temporal dev server: {'file-backed (SQLite, WAL)' if file_backed else 'in-memory'}"
            )
            # The server slows a little as it fills: the baseline brackets the campaign.
            before = await baseline_starts(env.client, accounts)
            campaign = await campaign_starts(env.client, url, accounts, options)
            after = await baseline_starts(env.client, accounts)
        finally:
            await env.shutdown()
        baseline = (before + after) / 2
        print(f"starts, {accounts} accounts:")
        print(
            f"  baseline (client, {BASELINE_IN_FLIGHT} in flight): {baseline:8.1f} starts/s "
            f"(before {before:.1f}, after {after:.1f})"
        )
        print(
            f"  CampaignWorkflow:                        {campaign['rate']:8.1f} starts/s "
            f"(pages of {options.page_size}, batches of {options.batch_size}, "
            f"{options.max_batches_in_flight} in flight x {options.starts_per_batch} starts)"
        )
        print(f"  ratio: {campaign['rate'] / baseline:.2f} (target >= 0.8)")
        print(
            f"  campaign history: {campaign['runs']:.0f} runs, "
            f"largest {campaign['max_events']:.0f} events"
        )
    result = import_bench(import_rows)
    n = result["rows"]
    load = n / result["load_s"]
    schema = n / result["schema_copy_s"]
    plain = n / result["plain_copy_s"]
    print(f"import, {n:.0f} rows ({result['file_mb']:.0f} MB file):")
    print(f"  COPY into debtors/accounts/campaign_accounts: {schema:9.0f} rows/s")
    print(f"  importer load (staging COPY + upserts):       {load:9.0f} rows/s")
    print(f"  ratio: {load / schema:.2f} (target >= 0.5)")
    print(f"  COPY into a bare table (no index, no key):    {plain:9.0f} rows/s")
    print(f"  validation (iter_portfolio, spool):           {n / result['validate_s']:9.0f} rows/s")
    total = n / (result["validate_s"] + result["load_s"])
    print(f"  end to end (validate + load):                 {total:9.0f} rows/s")
    print(f"  importer peak RSS: {result['peak_rss_mb']:.0f} MB (target < 200 MB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--import-rows", type=int, default=200_000)
    parser.add_argument("--file-backed", action="store_true")
    defaults = FanoutOptions()
    parser.add_argument("--page-size", type=int, default=defaults.page_size)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--batches-in-flight", type=int, default=defaults.max_batches_in_flight)
    parser.add_argument("--starts-per-batch", type=int, default=defaults.starts_per_batch)
    args = parser.parse_args()
    fanout = FanoutOptions(
        page_size=args.page_size,
        batch_size=args.batch_size,
        max_batches_in_flight=args.batches_in_flight,
        starts_per_batch=args.starts_per_batch,
    )
    asyncio.run(main(args.accounts, args.import_rows, args.file_backed, fanout))
