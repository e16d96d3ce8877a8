"""Ops: `cobranza campaign ...`: import and start, follow, pause / resume / cancel, schedule."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from psycopg_pool import AsyncConnectionPool
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import Client

from cobranza.campaign_models import ControlAction, FanoutOptions, is_valid_campaign_id
from cobranza.campaigns import (
    CampaignConflictError,
    CampaignControlError,
    CampaignNotFoundError,
    ImportSummary,
    PreparedPortfolio,
    control_campaign,
    create_inbox_schedule,
    default_report_path,
    delete_inbox_schedule,
    get_campaign,
    import_prepared,
    iter_errors,
    launch_campaign,
    list_campaigns,
    list_inbox_schedules,
    prepare_portfolio,
    write_rejections_report,
)
from cobranza.cli.common import (
    console,
    database_url,
    err_console,
    fail,
    local_time,
    run,
    session,
    temporal_client,
)
from cobranza.cli.common import settings as load_settings
from cobranza.db import open_pool
from cobranza.durations import format_duration, parse_duration
from cobranza.portfolio import PortfolioFileError, format_errors
from cobranza.report import STATUS_LABELS, campaign_report, print_report
from cobranza.settings import Settings
from cobranza.strategy import Strategy, UnknownStrategyError, load_strategy

# Seconds without progress before `campaign start` suggests checking the worker.
STALL_WARNING_S = 20

campaign_app = typer.Typer(help="Campañas: importar cartera, iniciar, controlar y ver resultados.")
schedule_app = typer.Typer(
    help="Campañas programadas: importar cada archivo nuevo de una carpeta.",
    invoke_without_command=True,
)
campaign_app.add_typer(schedule_app, name="schedule")


def _strategy(name: str) -> Strategy:
    try:
        return load_strategy(name)
    except UnknownStrategyError as err:
        raise fail(str(err), 2) from err


def _count_lines(file: Path) -> int:
    with file.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


@contextlib.contextmanager
def prepared_portfolio(
    file: Path, *, skip_invalid: bool, report: Path | None
) -> Iterator[PreparedPortfolio]:
    """Validate every row before touching any server: a bad file starts nothing.

    Without ``skip_invalid`` any bad row rejects the file (every bad line printed, exit 2); with
    it, the bad lines go to the report file and only the valid rows go on.
    """
    if not file.is_file():
        raise fail(f"no existe el archivo {file}", 2)
    with tempfile.TemporaryDirectory(prefix="cobranza-import-") as workdir:
        with Progress(
            TextColumn("Validando cartera"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as progress:
            task = progress.add_task("validate", total=_count_lines(file))
            try:
                prepared = prepare_portfolio(
                    file, Path(workdir), on_line=lambda line: progress.update(task, completed=line)
                )
            except PortfolioFileError as err:
                raise fail(f"{file}: {err}. No se importó ni se inició nada.", 2) from err
        if prepared.errors and not skip_invalid:
            err_console.print(
                f"[bold red]Archivo rechazado:[/bold red] {prepared.errors} error(es) en "
                f"{prepared.rejected_lines} línea(s) de {file}. No se importó ni se inició nada.",
                highlight=False,
            )
            batch: list[str] = []
            for error in iter_errors(prepared):
                batch.append(format_errors([error]))
                if len(batch) >= 1000:
                    err_console.print("\n".join(batch), markup=False, highlight=False)
                    batch.clear()
            if batch:
                err_console.print("\n".join(batch), markup=False, highlight=False)
            err_console.print(
                "Corrija el archivo, o use --skip-invalid para iniciar solo las filas válidas."
            )
            raise typer.Exit(2)
        if prepared.errors:
            dest = report or default_report_path(file)
            write_rejections_report(prepared, dest)
            console.print(
                f"{prepared.rejected_lines} línea(s) rechazada(s) ({prepared.errors} error(es)); "
                f"detalle en {dest}",
                highlight=False,
            )
        if prepared.rows == 0:
            raise fail(f"{file}: ninguna fila válida; no se importó ni se inició nada", 2)
        yield prepared


def print_import(summary: ImportSummary) -> None:
    if summary.created:
        console.print(f"Importadas {summary.accounts} cuentas en la campaña {summary.campaign_id}.")
    else:
        console.print(
            f"La campaña {summary.campaign_id} ya estaba importada con este archivo "
            f"({summary.accounts} cuentas): no se importó nada nuevo."
        )
    for skipped in summary.skipped:
        console.print(
            f"  omitida línea {skipped.line}, cuenta {skipped.account_id}: {skipped.reason}",
            highlight=False,
        )
    if summary.skipped_total > len(summary.skipped) and summary.created:
        rest = summary.skipped_total - len(summary.skipped)
        console.print(f"  ... y {rest} cuentas omitidas más (vea 'cobranza campaign status').")


async def start_and_follow(
    settings: Settings,
    client: Client,
    pool: AsyncConnectionPool,
    *,
    campaign_id: str,
    strategy: Strategy,
    options: FanoutOptions | None = None,
    wait: bool = True,
) -> int:
    """Launch the CampaignWorkflow and show its fan-out; returns the accounts newly started."""
    before = await get_campaign(pool, campaign_id)
    assert before is not None
    outcome = await launch_campaign(
        client,
        pool,
        campaign_id=campaign_id,
        strategy=strategy,
        task_queue=settings.task_queue,
        options=options,
    )
    if outcome == "finished":
        console.print(
            f"La campaña {campaign_id} ya terminó ({STATUS_LABELS[before.status]}): "
            "no se inició nada nuevo."
        )
        return 0
    if outcome == "running":
        console.print(f"La campaña {campaign_id} ya está en curso en el servidor.")
    if not wait:
        console.print(
            f"Campaña {campaign_id} en curso; siga su avance con 'cobranza campaign status'."
        )
        return 0
    with Progress(
        TextColumn("Iniciando cobranzas"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("start", total=before.accounts_total)
        last_change, last_done, warned = time.monotonic(), -1, False
        while True:
            row = await get_campaign(pool, campaign_id)
            assert row is not None
            done = row.accounts_total - row.pending
            progress.update(task, completed=done)
            if row.pending == 0 or row.paused or row.status in ("completed", "cancelled"):
                break
            if done != last_done:
                last_change, last_done = time.monotonic(), done
            elif not warned and time.monotonic() - last_change > STALL_WARNING_S:
                warned = True
                progress.console.print(
                    f"[yellow]Sin avance en {STALL_WARNING_S} s: ¿hay un worker en ejecución "
                    "('cobranza up --detach' o 'cobranza worker')? Puede salir con Ctrl+C: "
                    "la campaña sigue en el servidor.[/yellow]"
                )
            await asyncio.sleep(0.5)
    new = row.accounts_started - before.accounts_started
    console.print(
        f"Iniciadas {new} cobranzas nuevas (total {row.accounts_started}; "
        f"omitidas {row.accounts_skipped}, fallidas {row.accounts_failed}, "
        f"pendientes {row.pending})."
    )
    if row.paused:
        console.print("La campaña está en pausa: 'cobranza campaign resume' la continúa.")
    return new


@campaign_app.command("start")
def campaign_start(
    file: Annotated[Path, typer.Argument(help="Cartera en CSV (UTF-8, con encabezado).")],
    campaign_id: Annotated[str, typer.Option("--campaign-id", help="Identificador de campaña.")],
    strategy: Annotated[str, typer.Option("--strategy", help="Estrategia.")] = "default",
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Iniciar solo las filas válidas; informar el resto."),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Archivo de rechazos (por defecto <archivo>.rechazos.csv)."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Esperar a que todas las cuentas inicien.")
    ] = True,
) -> None:
    """Importa una cartera y la inicia como campaña durable (idempotente)."""
    if not is_valid_campaign_id(campaign_id):
        raise fail(
            f"--campaign-id {campaign_id!r} no es válido: use de 1 a 64 letras, dígitos, '-' o '_'",
            2,
        )
    settings = load_settings()
    chosen = _strategy(strategy)
    with prepared_portfolio(file, skip_invalid=skip_invalid, report=report) as prepared:

        async def main() -> None:
            async with session(settings) as (client, pool):
                try:
                    summary = await import_prepared(
                        pool, prepared, campaign_id=campaign_id, strategy=chosen.name
                    )
                except CampaignConflictError as err:
                    raise fail(str(err), 2) from err
                print_import(summary)
                await start_and_follow(
                    settings, client, pool, campaign_id=campaign_id, strategy=chosen, wait=wait
                )

        run(main())


@campaign_app.command("status")
def campaign_status(
    campaign_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Avance de la campaña, cuentas por etapa y resultado, e indicadores."""
    settings = load_settings()

    async def main() -> None:
        async with open_pool(database_url(settings)) as pool:
            if await get_campaign(pool, campaign_id) is None:
                raise fail(f"la campaña {campaign_id!r} no existe")
            report = await campaign_report(pool, campaign_id)
        if as_json:
            print(report.model_dump_json(indent=2))
        else:
            print_report(report, console)

    run(main())


@campaign_app.command("list")
def campaign_list(
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Campañas, de la más reciente a la más antigua."""
    settings = load_settings()

    async def main() -> None:
        async with open_pool(database_url(settings)) as pool:
            rows = await list_campaigns(pool)
        if as_json:
            print("[" + ",\n".join(row.model_dump_json() for row in rows) + "]")
            return
        if not rows:
            console.print("No hay campañas.")
            return
        table = Table(title="Campañas")
        # Ids are what ops copy into the next command: never cut them, squeeze the rest.
        widest = max(len(row.campaign_id) for row in rows)
        table.add_column("Campaña", no_wrap=True, min_width=widest)
        table.add_column("Estrategia")
        table.add_column("Estado")
        for column in ("Cuentas", "Iniciadas", "Omitidas", "Fallidas"):
            table.add_column(column, justify="right")
        table.add_column("Creada")
        for row in rows:
            state = STATUS_LABELS.get(row.status, row.status) + (
                " (en pausa)" if row.paused else ""
            )
            table.add_row(
                row.campaign_id,
                row.strategy,
                state,
                str(row.accounts_total),
                str(row.accounts_started),
                str(row.accounts_skipped),
                str(row.accounts_failed),
                local_time(row.created_at),
            )
        console.print(table)

    run(main())


_DONE = {"pause": "Pausadas", "resume": "Reanudadas", "cancel": "Canceladas"}
_WAITING = {
    "pause": "quedan en espera hasta reanudar",
    "resume": "se iniciarán ahora",
    "cancel": "no se iniciarán",
}


def _control(campaign_id: str, action: ControlAction, requested_by: str, reason: str) -> None:
    settings = load_settings()

    async def main() -> None:
        async with session(settings) as (client, pool):
            with console.status(f"Enviando a todas las cuentas de la campaña {campaign_id}..."):
                try:
                    result = await control_campaign(
                        client,
                        pool,
                        campaign_id=campaign_id,
                        action=action,
                        requested_by=requested_by,
                        reason=reason,
                    )
                except (CampaignControlError, CampaignNotFoundError) as err:
                    raise fail(str(err)) from err
        console.print(
            f"{_DONE[action]} {result.signalled} cuentas de la campaña {campaign_id} "
            f"({result.already_closed} ya estaban cerradas)."
        )
        if result.not_started:
            console.print(f"{result.not_started} cuentas aún sin iniciar {_WAITING[action]}.")

    run(main())


RequestedBy = Annotated[str, typer.Option("--by", help="Quién lo pide (queda en el registro).")]
Reason = Annotated[str, typer.Option("--reason", help="Motivo (queda en el registro).")]


@campaign_app.command("pause")
def campaign_pause(campaign_id: str, by: RequestedBy = "ops", reason: Reason = "") -> None:
    """Pausa la campaña y todas sus cuentas; termina cuando todas lo registraron."""
    _control(campaign_id, "pause", by, reason)


@campaign_app.command("resume")
def campaign_resume(campaign_id: str, by: RequestedBy = "ops", reason: Reason = "") -> None:
    """Reanuda la campaña y todas sus cuentas."""
    _control(campaign_id, "resume", by, reason)


@campaign_app.command("cancel")
def campaign_cancel(campaign_id: str, by: RequestedBy = "ops", reason: Reason = "") -> None:
    """Cancela la campaña: cierra sus cuentas abiertas y no inicia las pendientes."""
    _control(campaign_id, "cancel", by, reason)


# --- scheduled campaigns -------------------------------------------------------------------------


@schedule_app.callback()
def campaign_schedule(
    ctx: typer.Context,
    every: Annotated[
        str | None, typer.Option("--every", help="Cada cuánto revisar la carpeta (p. ej. 1d, 6h).")
    ] = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Carpeta donde el core deja las carteras.")
    ] = None,
    strategy: Annotated[str, typer.Option("--strategy", help="Estrategia.")] = "default",
    name: Annotated[
        str | None,
        typer.Option("--id", help="Nombre de la programación (por defecto, la carpeta)."),
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Importar las filas válidas de archivos con errores."),
    ] = False,
    now: Annotated[bool, typer.Option("--now", help="Revisar la carpeta ya, además.")] = False,
) -> None:
    """Programa la importación e inicio de cada archivo nuevo que llegue a una carpeta."""
    if ctx.invoked_subcommand is not None:
        return
    if every is None or directory is None:
        raise fail("indique --every y --dir (o use 'schedule list' / 'schedule delete ID')", 2)
    try:
        interval = parse_duration(every)
    except ValueError as err:
        raise fail(f"--every: {err}", 2) from err
    if interval.total_seconds() < 60:
        raise fail("--every: el intervalo mínimo es 1m", 2)
    if not directory.is_dir():
        raise fail(f"--dir: no existe la carpeta {directory}", 2)
    chosen = _strategy(strategy)
    label = name or directory.resolve().name
    if not is_valid_campaign_id(label):
        raise fail(f"--id {label!r} no es válido: use letras, dígitos, '-' o '_'", 2)
    settings = load_settings()

    async def main() -> None:
        client = await temporal_client(settings)
        schedule_id = await create_inbox_schedule(
            client,
            name=label,
            directory=directory,
            strategy=chosen,
            every=interval,
            task_queue=settings.task_queue,
            skip_invalid=skip_invalid,
        )
        if now:
            await client.get_schedule_handle(schedule_id).trigger()
        console.print(
            f"Programación {schedule_id}: cada {format_duration(interval)} se importa e inicia "
            f"cada archivo nuevo de {directory.resolve()} con la estrategia {chosen.name}."
        )

    run(main())


@schedule_app.command("list")
def schedule_list() -> None:
    """Programaciones de campañas."""
    settings = load_settings()

    async def main() -> None:
        client = await temporal_client(settings)
        schedules = await list_inbox_schedules(client)
        if not schedules:
            console.print("No hay campañas programadas.")
            return
        table = Table(title="Campañas programadas")
        widest = max(len(item.schedule_id) for item in schedules)
        table.add_column("Programación", no_wrap=True, min_width=widest)
        table.add_column("Carpeta", overflow="fold")
        for column in ("Estrategia", "Cada", "Próxima", "Última"):
            table.add_column(column)
        for item in schedules:
            table.add_row(
                item.schedule_id + (" (en pausa)" if item.paused else ""),
                item.directory,
                item.strategy,
                format_duration(item.every) if item.every else "—",
                local_time(item.next_run),
                local_time(item.last_run),
            )
        console.print(table)

    run(main())


@schedule_app.command("delete")
def schedule_delete(schedule_id: str) -> None:
    """Borra una programación (las campañas ya iniciadas siguen)."""
    settings = load_settings()

    async def main() -> None:
        client = await temporal_client(settings)
        try:
            deleted = await delete_inbox_schedule(client, schedule_id)
        except CampaignNotFoundError as err:
            raise fail(str(err)) from err
        console.print(f"Programación {deleted} borrada.")

    run(main())
