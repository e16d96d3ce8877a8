"""Ops: `cobranza campaign ...`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from psycopg_pool import AsyncConnectionPool
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import Client

from cobranza.campaigns import CampaignConflictError, import_campaign, start_campaign
from cobranza.cli.common import (
    console,
    database_url,
    err_console,
    fail,
    run,
    session,
)
from cobranza.cli.common import settings as load_settings
from cobranza.db import open_pool
from cobranza.portfolio import (
    PortfolioFileError,
    PortfolioResult,
    file_sha256,
    format_errors,
    read_portfolio,
)
from cobranza.report import campaign_report, print_report
from cobranza.settings import Settings
from cobranza.strategy import Strategy, UnknownStrategyError, load_strategy

campaign_app = typer.Typer(help="Campañas: importar cartera, iniciar y ver resultados.")


def validated_portfolio(file: Path, strategy_name: str) -> tuple[Strategy, PortfolioResult]:
    """Check the strategy and every row before touching any server: a bad file starts nothing."""
    if not file.is_file():
        raise fail(f"no existe el archivo {file}", 2)
    try:
        strategy = load_strategy(strategy_name)
    except UnknownStrategyError as err:
        raise fail(str(err), 2) from err
    try:
        result = read_portfolio(file)
    except PortfolioFileError as err:
        raise fail(f"{file}: {err}", 2) from err
    if result.errors:
        err_console.print(
            f"[bold red]Archivo rechazado:[/bold red] {len(result.errors)} error(es) en "
            f"{file}. No se importó ni se inició nada."
        )
        err_console.print(format_errors(result.errors), markup=False, highlight=False)
        raise typer.Exit(2)
    return strategy, result


async def start_campaign_from_file(
    settings: Settings,
    client: Client,
    pool: AsyncConnectionPool,
    file: Path,
    campaign_id: str,
    strategy: Strategy,
    result: PortfolioResult,
) -> int:
    try:
        summary = await import_campaign(
            pool,
            campaign_id=campaign_id,
            strategy=strategy.name,
            file_name=file.name,
            file_sha256=file_sha256(file),
            rows=result.rows,
        )
    except CampaignConflictError as err:
        raise fail(str(err), 2) from err
    if summary.created:
        console.print(f"Importadas {summary.accounts} cuentas en la campaña {campaign_id}.")
    else:
        console.print(f"La campaña {campaign_id} ya estaba importada con este archivo.")
    for skipped in summary.skipped:
        console.print(
            f"  omitida línea {skipped.line}, cuenta {skipped.account_id}: {skipped.reason}"
        )
    with Progress(
        TextColumn("Iniciando cobranzas"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("start", total=None)
        started = await start_campaign(
            client,
            pool,
            campaign_id=campaign_id,
            strategy=strategy,
            task_queue=settings.task_queue,
            on_started=lambda n: progress.advance(task, n),
        )
    console.print(
        f"Iniciadas {started.started} cobranzas nuevas "
        f"({started.already_running} ya estaban en curso)."
    )
    return started.started


@campaign_app.command("start")
def campaign_start(
    file: Annotated[Path, typer.Argument(help="Cartera en CSV (UTF-8, con encabezado).")],
    campaign_id: Annotated[str, typer.Option("--campaign-id", help="Identificador de campaña.")],
    strategy: Annotated[str, typer.Option("--strategy", help="Estrategia.")] = "default",
) -> None:
    """Importa una cartera y inicia una cobranza por cuenta (idempotente)."""
    settings = load_settings()
    chosen, result = validated_portfolio(file, strategy)

    async def main() -> None:
        async with session(settings) as (client, pool):
            await start_campaign_from_file(
                settings, client, pool, file, campaign_id, chosen, result
            )

    run(main())


@campaign_app.command("status")
def campaign_status(
    campaign_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Muestra las cuentas de una campaña por etapa y resultado."""
    settings = load_settings()

    async def main() -> None:
        async with open_pool(database_url(settings)) as pool:
            report = await campaign_report(pool, campaign_id)
        if report.accounts == 0:
            raise fail(f"la campaña {campaign_id!r} no existe o no tiene cuentas")
        if as_json:
            print(report.model_dump_json(indent=2))
        else:
            print_report(report, console)

    run(main())


# --- accounts --------------------------------------------------------------------------------------
