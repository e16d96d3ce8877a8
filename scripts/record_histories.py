"""Record representative collection histories for the replay test (tests/histories/*.json).

    .venv/bin/python scripts/record_histories.py

Runs each scenario on the time-skipping server with real activities on a scratch Postgres
database (on DATABASE_URL's server, or an embedded one when unset), replays what it recorded with
the current code, and writes one JSON file per run: the format `WorkflowHistory.from_json`, the
Temporal UI and `temporal workflow show --output json` share, under tests/histories/engine<N>
for the current engine version. After a deliberate change of the workflow's behaviour, raise
`ENGINE_VERSION` (cobranza/models.py) and record the new engine's folder, so CI replays both the
old shape and the new; never re-record to silence a replay failure without understanding it (old
histories in production are what they are).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.channels import SimulatedProvider, SimulatedProviderConfig
from cobranza.audit.history import fetch_account_history
from cobranza.audit.pii import PiiIndex, fetch_debtors, scan_runs
from cobranza.audit.reconcile import history_steps
from cobranza.audit.replay import replay_histories
from cobranza.binaries import temporal_test_server
from cobranza.campaigns import import_campaign
from cobranza.db import open_pool, scratch_database
from cobranza.domain import Channel, DocumentType, Outcome
from cobranza.models import (
    ENGINE_VERSION,
    CollectionInput,
    CollectionResult,
    ControlRequest,
    PaymentReceived,
    PromiseToPay,
    workflow_id_for,
)
from cobranza.portfolio import PortfolioRow
from cobranza.settings import Settings
from cobranza.strategy import load_strategy
from cobranza.temporal import build_worker, ensure_search_attributes
from workflows.collection import CollectionWorkflow

# One folder per engine version (cobranza.models.ENGINE_VERSION): older engines' recordings stay,
# since runs started on them replay with today's code.
OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "histories" / f"engine{ENGINE_VERSION}"
# Debtors who never answer and providers that always deliver: the scenario alone drives the flow.
SILENT = SimulatedProvider(SimulatedProviderConfig(reply_rate=0.0, failure_rate=0.0))
# Every message is answered with the self-service promise offer.
EAGER = SimulatedProvider(
    SimulatedProviderConfig(reply_rate=1.0, failure_rate=0.0, promise_share=1.0)
)

Handle = WorkflowHandle[CollectionWorkflow, CollectionResult]


@dataclass
class Context:
    env: WorkflowEnvironment
    pool: AsyncConnectionPool
    account_id: str

    @property
    def client(self) -> Client:
        return self.env.client

    async def start(self, strategy: str = "default", balance_cop: int = 1_500_000) -> Handle:
        return await self.client.start_workflow(
            CollectionWorkflow.run,
            CollectionInput(
                account_id=self.account_id,
                campaign_id="replay",
                strategy=load_strategy(strategy),
                balance_cop=balance_cop,
                days_past_due=5,
                product="tarjeta_credito",
            ),
            id=workflow_id_for(self.account_id),
            task_queue=TASK_QUEUE,
        )

    async def now(self):  # type: ignore[no-untyped-def]
        return await self.env.get_current_time()


TASK_QUEUE = "record-histories"
SCENARIO_TIMEOUT_S = 60


def payment(amount: int, reference: str, at) -> PaymentReceived:  # type: ignore[no-untyped-def]
    return PaymentReceived(amount_cop=amount, reference=reference, paid_at=at)


# --- scenarios: each returns the outcome it must end with -----------------------------------------


async def paid_during_wait(ctx: Context) -> Outcome:
    handle = await ctx.start(balance_cop=800_000)
    await ctx.env.sleep(timedelta(days=1))
    await handle.signal(
        CollectionWorkflow.payment_received, payment(800_000, "PAY-1", await ctx.now())
    )
    return (await handle.result()).outcome


async def promise_kept(ctx: Context) -> Outcome:
    handle = await ctx.start(balance_cop=1_000_000)
    now = await ctx.now()
    await handle.signal(
        CollectionWorkflow.promise_registered,
        PromiseToPay(amount_cop=400_000, due_at=now + timedelta(days=5)),
    )
    await ctx.env.sleep(timedelta(days=3))
    await handle.signal(
        CollectionWorkflow.payment_received, payment(400_000, "PAY-P1", await ctx.now())
    )
    await ctx.env.sleep(timedelta(days=10))
    await handle.signal(CollectionWorkflow.cancel, ControlRequest(reason="fin del escenario"))
    return (await handle.result()).outcome


async def promise_broken_escalation(ctx: Context) -> Outcome:
    handle = await ctx.start(balance_cop=2_000_000)
    now = await ctx.now()
    await handle.signal(
        CollectionWorkflow.promise_registered,
        PromiseToPay(amount_cop=2_000_000, due_at=now + timedelta(days=1)),
    )
    await ctx.env.sleep(timedelta(days=6))
    await handle.signal(CollectionWorkflow.cancel, ControlRequest(reason="fin del escenario"))
    return (await handle.result()).outcome


async def default_to_legal(ctx: Context) -> Outcome:
    handle = await ctx.start(balance_cop=3_500_000)
    return (await handle.result()).outcome


async def pause_resume(ctx: Context) -> Outcome:
    handle = await ctx.start()
    await ctx.env.sleep(timedelta(days=1))
    await handle.signal(CollectionWorkflow.pause, ControlRequest(requested_by="ops.maria"))
    await ctx.env.sleep(timedelta(days=10))
    await handle.signal(CollectionWorkflow.resume, ControlRequest(requested_by="ops.maria"))
    await ctx.env.sleep(timedelta(days=4))
    await handle.signal(CollectionWorkflow.cancel, ControlRequest(reason="fin del escenario"))
    return (await handle.result()).outcome


async def cancel(ctx: Context) -> Outcome:
    handle = await ctx.start()
    await ctx.env.sleep(timedelta(days=2))
    await handle.signal(
        CollectionWorkflow.cancel,
        ControlRequest(requested_by="ops.maria", reason="cartera vendida"),
    )
    return (await handle.result()).outcome


async def reply_promise_paid(ctx: Context) -> Outcome:
    handle = await ctx.start(balance_cop=900_000)
    await ctx.env.sleep(timedelta(days=2))
    await handle.signal(
        CollectionWorkflow.payment_received, payment(900_000, "PAY-R1", await ctx.now())
    )
    return (await handle.result()).outcome


@dataclass(frozen=True)
class Scenario:
    run: Callable[[Context], Awaitable[Outcome]]
    adapter: SimulatedProvider
    outcome: Outcome
    # Step kinds the history must hold, or the scenario did not show what its name says.
    kinds: frozenset[str]


SCENARIOS: dict[str, Scenario] = {
    "paid_during_wait": Scenario(
        paid_during_wait, SILENT, Outcome.PAID, frozenset({"wait", "payment_received"})
    ),
    "promise_kept": Scenario(
        promise_kept, SILENT, Outcome.CANCELLED, frozenset({"promise_registered", "promise_kept"})
    ),
    "promise_broken_escalation": Scenario(
        promise_broken_escalation,
        SILENT,
        Outcome.CANCELLED,
        frozenset({"promise_broken", "escalated"}),
    ),
    "default_to_legal": Scenario(
        default_to_legal, SILENT, Outcome.HANDED_TO_LEGAL, frozenset({"contact", "escalated"})
    ),
    "pause_resume": Scenario(
        pause_resume, SILENT, Outcome.CANCELLED, frozenset({"paused", "resumed"})
    ),
    "cancel": Scenario(cancel, SILENT, Outcome.CANCELLED, frozenset({"closed"})),
    "reply_promise_paid": Scenario(
        reply_promise_paid,
        EAGER,
        Outcome.PAID,
        frozenset({"debtor_reply", "promise_registered", "payment_received"}),
    ),
}


# --- plumbing --------------------------------------------------------------------------------------


def _row(account_id: str, number: int) -> PortfolioRow:
    # Invented person; histories carry none of it, which the PII scan below confirms.
    return PortfolioRow(
        line=number + 2,
        account_id=account_id,
        document_type=DocumentType.CC,
        document_number=str(52_000_000 + number),
        full_name="Rosa Elvira Cárdenas Prueba",
        product="tarjeta_credito",
        balance_cop=1_500_000,
        days_past_due=5,
        phone="+573009990000",
        email="rosa.prueba@example.co",
        address="Calle 1 # 2-3",
        city="Bogotá",
        authorized_channels=frozenset(
            {Channel.SMS, Channel.EMAIL, Channel.WHATSAPP, Channel.CALL, Channel.LETTER}
        ),
    )


@contextlib.asynccontextmanager
async def environment() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=temporal_test_server(),
    )
    try:
        await ensure_search_attributes(env.client, env.client.namespace)
        yield env
    finally:
        await env.shutdown()


async def record_one(
    env: WorkflowEnvironment, pool: AsyncConnectionPool, number: int, name: str, output: Path
) -> bool:
    """Run one scenario and write its histories; False (with the reason on stderr) if not."""
    scenario = SCENARIOS[name]
    account_id = f"REPLAY-{name.upper().replace('_', '-')}"
    await import_campaign(
        pool,
        campaign_id=f"replay-{number}",
        strategy="default",
        file_name="record_histories",
        file_sha256=uuid.uuid4().hex,
        rows=[_row(account_id, number)],
    )
    worker = build_worker(
        env.client, pool, Settings(task_queue=TASK_QUEUE), adapter=scenario.adapter
    )
    async with worker:
        try:
            outcome = await asyncio.wait_for(
                scenario.run(Context(env, pool, account_id)), SCENARIO_TIMEOUT_S
            )
        except (TimeoutError, RPCError) as err:
            # A workflow task failing in a loop never ends; say so and go on.
            print(f"{name}: did not finish ({err!r})", file=sys.stderr)
            return False
    if outcome != scenario.outcome:
        print(f"{name}: ended {outcome}, expected {scenario.outcome}", file=sys.stderr)
        return False
    account = await fetch_account_history(env.client, account_id, use_visibility=False)
    runs = account.runs
    steps = [s for c in account.collections for s in await history_steps(c)]
    missing = scenario.kinds - {s.entry.kind for s in steps}
    if missing:
        print(f"{name}: no step of kind {sorted(missing)}", file=sys.stderr)
        return False
    replayed = await replay_histories(r.history for r in runs)
    leaks = scan_runs(runs, PiiIndex(await fetch_debtors(pool, [account_id])))
    bad = [o.describe() for o in replayed if not o.passed] + [f.describe() for f in leaks]
    if bad:
        print(f"{name}: " + "; ".join(bad), file=sys.stderr)
        return False
    for old in [*output.glob(f"{name}.json"), *output.glob(f"{name}.run*.json")]:
        old.unlink()
    for index, run in enumerate(runs):
        suffix = "" if index == 0 else f".run{index + 1}"
        # Indented, so a re-recording shows as a readable diff.
        text = json.dumps(run.history.to_json_dict(), indent=1, ensure_ascii=False)
        (output / f"{name}{suffix}.json").write_text(text + "\n", encoding="utf-8")
    events = sum(len(r.history.events) for r in runs)
    print(f"{name}: {outcome.value}, {len(runs)} run(s), {events} eventos -> {output}")
    return True


async def record(names: list[str], output: Path) -> int:
    output.mkdir(parents=True, exist_ok=True)
    failures = 0
    with scratch_database("record_histories") as url:
        async with open_pool(url, max_size=5) as pool:
            for number, name in enumerate(names):
                # A server per scenario: one scenario's clock and leftovers never reach the next.
                async with environment() as env:
                    if not await record_one(env, pool, number, name, output):
                        failures += 1
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, []], default=[])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    names = args.scenarios or list(SCENARIOS)
    failures = asyncio.run(record(names, args.output))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
