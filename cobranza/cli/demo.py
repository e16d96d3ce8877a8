"""`cobranza demo`: the whole product on one machine in a few minutes."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import Client

from cobranza import localstack
from cobranza.agent_simulation import SimulatedAgents
from cobranza.campaign_models import FanoutOptions
from cobranza.campaigns import import_prepared
from cobranza.cli.agent import print_task_summary
from cobranza.cli.campaign import prepared_portfolio, print_import, start_and_follow
from cobranza.cli.common import (
    console,
    fail,
    run,
)
from cobranza.cli.common import settings as load_settings
from cobranza.compliance_report import compliance_summary, print_compliance
from cobranza.db import open_pool
from cobranza.domain import BOGOTA
from cobranza.logging import configure_logging
from cobranza.models import workflow_id_for
from cobranza.report import campaign_report, print_report
from cobranza.settings import Settings
from cobranza.simulation import SimulatedDebtors
from cobranza.strategy import load_strategy
from cobranza.tasks import task_summary
from cobranza.temporal import connect

DEMO_PORTFOLIO = Path(__file__).resolve().parent.parent / "data" / "demo_portfolio.csv"
app = typer.Typer()


async def _connect_when_ready(settings: Settings, timeout: float = 60) -> Client:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await connect(settings)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _demo(
    settings: Settings, state: localstack.StackState, timeout: float, agents_per_team: int
) -> dict[str, Any]:
    client = await _connect_when_ready(settings)
    campaign_id = "demo-" + datetime.now(BOGOTA).strftime("%Y%m%d-%H%M%S")
    async with open_pool(state.database_url, settings.db_pool_max) as pool:
        strategy = load_strategy("demo")
        with prepared_portfolio(DEMO_PORTFOLIO, skip_invalid=False, report=None) as prepared:
            summary = await import_prepared(
                pool, prepared, campaign_id=campaign_id, strategy=strategy.name
            )
        print_import(summary)
        # The accounts start through the CampaignWorkflow, as in production; it checks every few
        # seconds (not hourly) whether all collections closed, so the demo campaign completes.
        await start_and_follow(
            settings,
            client,
            pool,
            campaign_id=campaign_id,
            strategy=strategy,
            options=FanoutOptions(watch_interval=timedelta(seconds=3)),
        )
        debtors = SimulatedDebtors(client, pool, seed=settings.sim_seed)
        agents = (
            SimulatedAgents(client, pool, agents=agents_per_team, seed=settings.sim_seed)
            if agents_per_team
            else None
        )
        deadline = time.monotonic() + timeout
        report = await campaign_report(pool, campaign_id)
        with Progress(
            TextColumn("Cobranzas terminadas"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("run", total=report.accounts)
            while time.monotonic() < deadline:
                await debtors.tick(campaign_id)
                if agents is not None:
                    await agents.tick(campaign_id)
                report = await campaign_report(pool, campaign_id)
                progress.update(task, completed=report.accounts - report.open_accounts)
                if report.open_accounts == 0 and sum(report.by_outcome.values()) == report.accounts:
                    break
                # At night, on Sundays and holidays every open account waits for a legal window
                # (Ley 2300): nothing more happens before it opens, so the demo ends here.
                waiting = await compliance_summary(pool, campaign_id, datetime.now(BOGOTA))
                if report.open_accounts and waiting.waiting_accounts >= report.open_accounts:
                    break
                await asyncio.sleep(1)
        # The campaign notices within its watch interval that every collection closed.
        settle = time.monotonic() + 10
        while report.open_accounts == 0 and report.status != "completed":
            if time.monotonic() > settle:
                break
            await asyncio.sleep(0.5)
            report = await campaign_report(pool, campaign_id)
        console.print()
        print_report(report, console)
        print_task_summary(await task_summary(pool, campaign_id), console)
        print_compliance(await compliance_summary(pool, campaign_id, datetime.now(BOGOTA)), console)
        async with pool.connection() as conn:
            cur = await conn.execute(
                """SELECT account_id FROM collections WHERE campaign_id = %s
                   ORDER BY (outcome = 'paid') DESC, account_id LIMIT 1""",
                (campaign_id,),
            )
            sample = await cur.fetchone()
    account_id = sample[0] if sample else "?"
    wf = workflow_id_for(account_id)
    console.print()
    console.print("[bold]Para inspeccionar una cuenta[/bold]")
    console.print("  1. cobranza up --detach     (el historial queda en .cobranza/)")
    console.print(f"  2. UI de Temporal: http://localhost:8233/namespaces/default/workflows/{wf}")
    console.print(f"     o: .venv/bin/temporal workflow show --workflow-id {wf}")
    console.print(f'  3. Registro en Postgres:  psql "{state.database_url}" -c \\')
    console.print(
        f'       "SELECT seq, kind, stage, occurred_at, detail FROM collection_log '
        f"WHERE account_id = '{account_id}' ORDER BY id\""
    )
    console.print(f"     o: cobranza account status {account_id}")
    console.print(f"  4. La campaña: cobranza campaign status {campaign_id}")
    console.print(
        "  5. Consola web (con el stack de 1.): cree un usuario con "
        "'cobranza user add ops.1 --role ops' y abra http://localhost:8000"
    )
    return report.model_dump()


@app.command()
def demo(
    timeout: Annotated[float, typer.Option(help="Segundos máximos de espera.")] = 300,
    agents: Annotated[
        int, typer.Option("--agents", help="Gestores simulados por equipo (0: ninguno).")
    ] = 20,
) -> None:
    """Demostración completa: stack local, cartera sintética, campaña y reporte."""
    configure_logging(level="WARNING")
    settings = load_settings()
    started = time.monotonic()
    console.print("[bold]Cobranza: demostración[/bold] (stack local en .cobranza/)")
    try:
        settings = localstack.fresh_demo_state(settings)
    except localstack.StackBusyError as err:
        raise fail(str(err)) from err
    # A SIGTERM (timeout, kill) stops what the demo started, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with localstack.stack(settings) as state:
        report = run(_demo(settings, state, timeout, agents))
    elapsed = time.monotonic() - started
    open_accounts = report["open_accounts"]
    console.print(f"Demostración terminada en {elapsed:.0f} s; stack detenido.")
    if open_accounts:
        console.print(f"[yellow]{open_accounts} cuentas siguen en gestión al cerrar.[/yellow]")
