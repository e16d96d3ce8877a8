"""Collection steps per second (activity plus log row) beside a no-op baseline on the same server.

    .venv/bin/python bench/steps.py [--accounts 200] [--contacts 5] [--checks 5] [--rounds 4]

Runs in one process against one fresh Temporal dev server (in memory) and one fresh database on
DATABASE_URL (or an embedded Postgres), in phases: the baseline, a no-op workflow that runs the
same number of no-op activities per workflow; and CollectionWorkflow with a strategy of contact
and promise-check steps, each one activity that writes its `collection_log` row (and, for
contacts, its outbox message). The phases alternate baseline, cobranza, cobranza, baseline (one
"round" is a pair), with a pause between phases for the server's deferred timers. Prints each
phase, each round's ratio, both overall rates and their ratio (target: at least 0.7).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.channels import SimulatedProvider, SimulatedProviderConfig
from bench.noop_workflow import NOOP_ACTIVITY_TIMEOUT, NoopWorkflow, noop_activity
from cobranza.binaries import temporal_cli
from cobranza.campaigns import import_campaign
from cobranza.compliance import ContactRules, load_contact_rules
from cobranza.db import open_pool, scratch_database
from cobranza.domain import Channel, DocumentType, MessagePurpose, Outcome
from cobranza.models import CollectionInput, workflow_id_for
from cobranza.portfolio import PortfolioRow
from cobranza.sandbox_code import cache_workflow_code
from cobranza.search_attributes import ALL_KEYS
from cobranza.settings import Settings
from cobranza.strategy import Strategy
from cobranza.temporal import WORKER_TUNING, build_worker
from workflows.collection import ACTIVITY_TIMEOUT, CollectionWorkflow


def bench_rules() -> ContactRules:
    rules = load_contact_rules()
    return rules.model_copy(
        update={
            "version": "bench",
            "window_exempt_purposes": frozenset({MessagePurpose.FRAUD_ALERT}),
            "count_exempt_in_caps": False,
        }
    )


def bench_strategy(contacts: int, checks: int) -> Strategy:
    steps: list[dict[str, object]] = []
    for i in range(max(contacts, checks)):
        if i < contacts:
            # Fraud alerts (Ley 2300 Art. 8): exempt from the caps, and here from the window
            # too (bench_rules), so the benchmark measures throughput at any hour.
            steps.append(
                {
                    "id": f"c{i}",
                    "kind": "contact",
                    "channel": "sms",
                    "template": "x",
                    "purpose": "fraud_alert",
                }
            )
        if i < checks:
            steps.append({"id": f"p{i}", "kind": "promise_check", "grace": "1s"})
    steps += [
        {"id": "adm", "kind": "escalate", "to_stage": "administrativa"},
        {"id": "pre", "kind": "escalate", "to_stage": "prejuridica"},
        {"id": "jur", "kind": "escalate", "to_stage": "juridica"},
        {"id": "end", "kind": "close", "outcome": Outcome.HANDED_TO_LEGAL.value},
    ]
    return Strategy.model_validate({"name": "bench", "version": "1", "steps": steps})


async def run_baseline(client: Client, accounts: int, activities: int) -> float:
    queue = f"bench-noop-{uuid.uuid4().hex[:6]}"
    # As build_worker does for the collection workflows: compile the module once, not per run.
    cache_workflow_code([NoopWorkflow])
    async with Worker(
        client,
        task_queue=queue,
        workflows=[NoopWorkflow],
        activities=[noop_activity],
        # The collection worker's own tuning (build_worker): the same pollers and slots.
        **WORKER_TUNING,
    ):
        started = time.perf_counter()
        handles = await asyncio.gather(
            *(
                client.start_workflow(
                    NoopWorkflow.run, activities, id=f"noop-{queue}-{i}", task_queue=queue
                )
                for i in range(accounts)
            )
        )
        await asyncio.gather(*(h.result() for h in handles))
        return time.perf_counter() - started


async def run_collections(
    client: Client, database_url: str, accounts: int, strategy: Strategy, first_person: int = 0
) -> tuple[float, int]:
    queue = f"bench-steps-{uuid.uuid4().hex[:6]}"
    settings = Settings(task_queue=queue)
    rows = [
        PortfolioRow(
            line=i + 2,
            account_id=f"B{uuid.uuid4().hex[:10]}",
            document_type=DocumentType.CC,
            # New people each phase: an earlier phase's contacts would weigh on the gate.
            document_number=str(20_000_000 + first_person + i),
            full_name="Persona de Prueba",
            product="tarjeta_credito",
            balance_cop=1_000_000,
            days_past_due=5,
            phone="+573001112233",
            email=None,
            address=None,
            city=None,
            authorized_channels=frozenset({Channel.SMS}),
        )
        for i in range(accounts)
    ]
    async with open_pool(database_url, max_size=10) as pool:
        await import_campaign(
            pool,
            campaign_id=queue,
            strategy=strategy.name,
            file_name="bench.csv",
            file_sha256=queue,
            rows=rows,
        )
        silent = SimulatedProvider(SimulatedProviderConfig(reply_rate=0, failure_rate=0))
        rules = bench_rules()  # once, not per start inside the timed phase
        async with build_worker(client, pool, settings, adapter=silent):
            started = time.perf_counter()
            handles = await asyncio.gather(
                *(
                    client.start_workflow(
                        CollectionWorkflow.run,
                        CollectionInput(
                            account_id=row.account_id,
                            campaign_id=queue,
                            strategy=strategy,
                            balance_cop=row.balance_cop,
                            days_past_due=row.days_past_due,
                            product=row.product,
                            contact_rules=rules,
                        ),
                        id=workflow_id_for(row.account_id),
                        task_queue=queue,
                    )
                    for row in rows
                )
            )
            results = await asyncio.gather(*(h.result() for h in handles))
            elapsed = time.perf_counter() - started
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM collection_log l JOIN collections c USING (collection_id)"
                " WHERE c.campaign_id = %s",
                (queue,),
            )
            logged = (await cur.fetchone() or (0,))[0]
    assert logged == sum(r.steps_logged for r in results), "log rows and steps disagree"
    return elapsed, logged


# The dev server fires every task's timeout timer after the task started, even when the task
# completed at once: a workflow task's after 10 s, an activity's after its start-to-close timeout
# (30 s, the same for both workflows). A phase started sooner would pay for the previous phase's
# timers, and in ABBA order the collection phases would pay for two phases, the baseline for one.
SETTLE = ACTIVITY_TIMEOUT + timedelta(seconds=2)
assert NOOP_ACTIVITY_TIMEOUT == ACTIVITY_TIMEOUT, "the phases must carry the same timers"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--contacts", type=int, default=5)
    parser.add_argument("--checks", type=int, default=5)
    # Run to run, a phase's rate varies by about 10% on this 2-core VM, the baseline's too: more
    # rounds narrow the overall ratio, and each round's own ratio shows the spread. An even
    # number completes the ABBA blocks, so the server's slowing as it fills weighs on both sides
    # alike (with 3, the phases' positions sum to 7 for the baseline and 8 for cobranza).
    parser.add_argument("--rounds", type=int, default=4, help="baseline/cobranza pairs (ABBA)")
    args = parser.parse_args()
    strategy = bench_strategy(args.contacts, args.checks)
    # opened + every step + closed: one log row (and one activity) each.
    steps_per_account = len(strategy.steps) - 1 + 2
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_cli(),
        search_attributes=ALL_KEYS,
    )
    totals = {"baseline": [0, 0.0], "cobranza": [0, 0.0]}  # operations, seconds
    rates: list[dict[str, float]] = [{} for _ in range(args.rounds)]
    try:
        with scratch_database("cobranza_bench") as url:
            print(
                f"{args.accounts} workflows x {steps_per_account} steps per phase, one dev server"
                f" (in memory), {args.rounds} rounds in ABBA order"
            )
            for phase in range(2 * args.rounds):
                if phase:
                    await asyncio.sleep(SETTLE.total_seconds())
                # A B B A ...: the server slows a little as it fills; the order cancels that out.
                which = "baseline" if phase % 4 in (0, 3) else "cobranza"
                if which == "baseline":
                    elapsed = await run_baseline(env.client, args.accounts, steps_per_account)
                    done = args.accounts * steps_per_account
                    label = "no-op workflow + no-op activities"
                    unit = "activities/s"
                else:
                    elapsed, done = await run_collections(
                        env.client, url, args.accounts, strategy, first_person=phase * args.accounts
                    )
                    label = "collection steps (activity + log row)"
                    unit = "steps/s"
                totals[which][0] += done
                totals[which][1] += elapsed
                rates[phase // 2][which] = done / elapsed
                print(f"  {which:9} {label:38} {done / elapsed:8.1f} {unit}", flush=True)
    finally:
        await env.shutdown()
    base_rate = totals["baseline"][0] / totals["baseline"][1]
    rate = totals["cobranza"][0] / totals["cobranza"][1]
    print(f"baseline  no-op workflow + no-op activities: {base_rate:8.1f} activities/s")
    print(f"cobranza  collection steps (activity + log row): {rate:8.1f} steps/s")
    per_round = [r["cobranza"] / r["baseline"] for r in rates]
    print(
        "ratio per round: "
        + ", ".join(f"{r:.2f}" for r in per_round)
        + f" (median {statistics.median(per_round):.2f})"
    )
    print(
        f"ratio {rate / base_rate:.2f} (target >= 0.70); {totals['cobranza'][0]} log rows written"
    )


if __name__ == "__main__":
    asyncio.run(main())
