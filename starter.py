"""`cobranza`: the command line for ops, agents and auditors (messages in Spanish).

Configuration comes from the environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, DATABASE_URL);
when DATABASE_URL is unset, commands use the embedded Postgres that `cobranza up` started.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from psycopg_pool import AsyncConnectionPool
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import Client

from cobranza import localstack
from cobranza.campaigns import CampaignConflictError, import_campaign, start_campaign
from cobranza.db import open_pool
from cobranza.domain import BOGOTA, OUTCOME_LABELS, STAGE_LABELS
from cobranza.logging import configure_logging
from cobranza.models import workflow_id_for
from cobranza.money import format_cop, parse_cop
from cobranza.operations import (
    Control,
    OperationError,
    account_status,
    control_account,
    register_promise,
    report_payment,
)
from cobranza.portfolio import PortfolioFileError, file_sha256, format_errors, read_portfolio
from cobranza.report import campaign_report, print_report
from cobranza.settings import Settings
from cobranza.simulation import SimulatedDebtors
from cobranza.strategy import UnknownStrategyError, load_strategy
from cobranza.temporal import connect

app = typer.Typer(help="Cobranza: orquestación de cobranza sobre Temporal.", no_args_is_help=True)
campaign_app = typer.Typer(help="Campañas: importar cartera, iniciar y ver resultados.")
account_app = typer.Typer(help="Cuentas: estado, pausa, reanudación y cancelación.")
app.add_typer(campaign_app, name="campaign")
app.add_typer(account_app, name="account")

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

DEMO_PORTFOLIO = Path(__file__).resolve().parent / "cobranza" / "data" / "demo_portfolio.csv"


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]Error:[/bold red] {message}")
    return typer.Exit(code)


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def _settings() -> Settings:
    return Settings.from_env()


def _database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    state = localstack.read_state(settings)
    if state is not None:
        return state.database_url
    raise fail(
        "no hay base de datos configurada: exporte DATABASE_URL o ejecute 'cobranza up --detach'"
    )


@contextlib.asynccontextmanager
async def session(settings: Settings) -> AsyncIterator[tuple[Client, AsyncConnectionPool]]:
    url = _database_url(settings)
    try:
        client = await connect(settings)
    except RuntimeError as err:
        raise fail(
            f"no se pudo conectar a Temporal en {settings.temporal_address}: {err}. "
            "¿Ejecutó 'cobranza up --detach'?"
        ) from err
    async with open_pool(url, settings.db_pool_max) as pool:
        yield client, pool


def _amount(text: str, field: str) -> int:
    try:
        value = parse_cop(text)
    except ValueError as err:
        raise fail(f"{field}: {err}", 2) from err
    if value <= 0:
        raise fail(f"{field}: el monto debe ser mayor que cero", 2)
    return value


# --- local stack -----------------------------------------------------------------------------------


@app.command()
def up(
    detach: Annotated[bool, typer.Option("--detach", help="Dejar el stack corriendo.")] = False,
) -> None:
    """Inicia el stack local: Temporal (UI en :8233), Postgres y un worker."""
    settings = _settings()
    if detach:
        state = localstack.up_detached(settings)
        console.print("[green]Stack local iniciado.[/green]")
        console.print(f"  Temporal: {state.temporal_address}  (UI: http://localhost:8233)")
        console.print(f"  Postgres: {state.database_url}")
        console.print("  Detener con: cobranza down")
        return
    with localstack.stack(settings) as state:
        console.print("[green]Stack local corriendo[/green] (Ctrl-C para detener).")
        console.print(f"  UI de Temporal: http://localhost:8233 · Postgres: {state.database_url}")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)


@app.command()
def down() -> None:
    """Detiene lo que inició 'cobranza up --detach'."""
    state = localstack.down(_settings())
    if state is None:
        console.print("No hay un stack local iniciado con --detach.")
    else:
        console.print("[green]Stack local detenido.[/green]")


@app.command()
def worker() -> None:
    """Ejecuta un worker en primer plano (TEMPORAL_ADDRESS, DATABASE_URL)."""
    from worker import run_worker

    configure_logging()
    settings = _settings()
    settings = settings.model_copy(update={"database_url": _database_url(settings)})
    asyncio.run(run_worker(settings))


# --- campaigns -------------------------------------------------------------------------------------


async def _start_campaign(
    settings: Settings,
    client: Client,
    pool: AsyncConnectionPool,
    file: Path,
    campaign_id: str,
    strategy_name: str,
) -> int:
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
    if not file.is_file():
        raise fail(f"no existe el archivo {file}", 2)
    settings = _settings()

    async def main() -> None:
        async with session(settings) as (client, pool):
            await _start_campaign(settings, client, pool, file, campaign_id, strategy)

    run(main())


@campaign_app.command("status")
def campaign_status(
    campaign_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Muestra las cuentas de una campaña por etapa y resultado."""
    settings = _settings()

    async def main() -> None:
        async with open_pool(_database_url(settings)) as pool:
            report = await campaign_report(pool, campaign_id)
        if report.accounts == 0:
            raise fail(f"la campaña {campaign_id!r} no existe o no tiene cuentas")
        if as_json:
            print(report.model_dump_json(indent=2))
        else:
            print_report(report, console)

    run(main())


# --- accounts --------------------------------------------------------------------------------------


def _local(value: datetime | None) -> str:
    return value.astimezone(BOGOTA).strftime("%Y-%m-%d %H:%M:%S") if value else "—"


@account_app.command("status")
def account_status_cmd(
    account_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Estado completo de la cobranza de una cuenta."""
    settings = _settings()

    async def main() -> None:
        client = await connect(settings)
        try:
            status = await account_status(client, account_id)
        except OperationError as err:
            raise fail(str(err)) from err
        if as_json:
            print(status.model_dump_json(indent=2))
            return
        table = Table(title=f"Cuenta {account_id}", show_header=False)
        table.add_row("Etapa", STAGE_LABELS[status.stage])
        table.add_row(
            "Resultado", OUTCOME_LABELS[status.outcome] if status.outcome else "en gestión"
        )
        table.add_row("Saldo", format_cop(status.balance_cop))
        table.add_row("Pagado", format_cop(status.paid_cop))
        table.add_row("Días de mora", str(status.days_past_due))
        table.add_row("Paso actual", f"{status.step_id or '—'} ({status.step_kind or '—'})")
        table.add_row("Pausada", "sí" if status.paused else "no")
        if status.open_promise:
            promise = status.open_promise
            table.add_row(
                "Promesa abierta",
                f"{format_cop(promise.amount_cop)} para {_local(promise.due_at)}",
            )
        table.add_row("Próxima acción", _local(status.next_wake_up))
        table.add_row("Estrategia", f"{status.strategy} v{status.strategy_version}")
        table.add_row("Pasos registrados", str(status.steps_logged))
        console.print(table)

    run(main())


class ControlAction(StrEnum):
    pause = "pause"
    resume = "resume"
    cancel = "cancel"


_CONTROL_DONE = {"pause": "pausada", "resume": "reanudada", "cancel": "cancelada"}


def _control(action: Control) -> Callable[..., None]:
    def command(
        account_id: str,
        reason: Annotated[
            str, typer.Option("--reason", help="Motivo (queda en el registro).")
        ] = "",
        by: Annotated[str, typer.Option("--by", help="Quién lo solicita.")] = "ops",
    ) -> None:
        settings = _settings()

        async def main() -> None:
            client = await connect(settings)
            try:
                await control_account(
                    client,
                    account_id,
                    action,
                    requested_by=by,
                    reason=reason,
                )
            except OperationError as err:
                raise fail(str(err)) from err
            console.print(f"Cuenta {account_id} {_CONTROL_DONE[action]}.")

        run(main())

    command.__doc__ = {
        "pause": "Pausa la cobranza de una cuenta (detiene el reloj de la estrategia).",
        "resume": "Reanuda una cobranza pausada donde estaba.",
        "cancel": "Cancela la cobranza de una cuenta.",
    }[action]
    return command


_ACTIONS: tuple[Control, ...] = ("pause", "resume", "cancel")
for _action in _ACTIONS:
    account_app.command(_action)(_control(_action))


@app.command()
def payment(
    account_id: str,
    amount: Annotated[str, typer.Option("--amount", help="Monto en COP, p. ej. 1.234.567")],
    reference: Annotated[str, typer.Option("--reference", help="Referencia única del pago.")],
    paid_at: Annotated[
        str | None, typer.Option("--paid-at", help="Fecha y hora ISO (por defecto, ahora).")
    ] = None,
) -> None:
    """Registra un pago recibido (idempotente por referencia)."""
    settings = _settings()
    amount_cop = _amount(amount, "--amount")
    when = None
    if paid_at:
        try:
            when = datetime.fromisoformat(paid_at)
        except ValueError as err:
            raise fail(f"--paid-at: fecha inválida {paid_at!r} (use AAAA-MM-DDTHH:MM)", 2) from err
        if when.tzinfo is None:
            when = when.replace(tzinfo=BOGOTA)

    async def main() -> None:
        async with session(settings) as (client, pool):
            try:
                outcome = await report_payment(
                    client,
                    pool,
                    account_id=account_id,
                    amount_cop=amount_cop,
                    reference=reference,
                    paid_at=when,
                    source="cli",
                )
            except (OperationError, ValueError) as err:
                raise fail(str(err)) from err
        if outcome == "duplicate":
            console.print(f"El pago {reference} ya estaba registrado; no se cuenta dos veces.")
        else:
            console.print(f"Pago de {format_cop(amount_cop)} registrado en la cuenta {account_id}.")

    run(main())


@app.command()
def promise(
    account_id: str,
    amount: Annotated[str, typer.Option("--amount", help="Monto prometido en COP.")],
    due: Annotated[str, typer.Option("--due", help="Fecha de pago AAAA-MM-DD.")],
) -> None:
    """Registra una promesa de pago."""
    settings = _settings()
    amount_cop = _amount(amount, "--amount")
    try:
        due_date = date.fromisoformat(due)
    except ValueError as err:
        raise fail(f"--due: fecha inválida {due!r} (use AAAA-MM-DD)", 2) from err

    async def main() -> None:
        client = await connect(settings)
        try:
            await register_promise(
                client, account_id=account_id, amount_cop=amount_cop, due=due_date
            )
        except OperationError as err:
            raise fail(str(err)) from err
        console.print(
            f"Promesa de {format_cop(amount_cop)} para el {due_date.isoformat()} registrada."
        )

    run(main())


# --- demo ------------------------------------------------------------------------------------------


async def _connect_when_ready(settings: Settings, timeout: float = 60) -> Client:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await connect(settings)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _demo(settings: Settings, state: localstack.StackState, timeout: float) -> dict[str, Any]:
    client = await _connect_when_ready(settings)
    campaign_id = "demo-" + datetime.now(BOGOTA).strftime("%Y%m%d-%H%M%S")
    async with open_pool(state.database_url, settings.db_pool_max) as pool:
        await _start_campaign(settings, client, pool, DEMO_PORTFOLIO, campaign_id, "demo")
        debtors = SimulatedDebtors(client, pool, seed=settings.sim_seed)
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
                report = await campaign_report(pool, campaign_id)
                progress.update(task, completed=report.accounts - report.open_accounts)
                if report.open_accounts == 0 and sum(report.by_outcome.values()) == report.accounts:
                    break
                await asyncio.sleep(1)
        console.print()
        print_report(report, console)
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
    console.print(f"     o: temporal workflow show --workflow-id {wf}")
    console.print(f'  3. Registro en Postgres:  psql "{state.database_url}" -c \\')
    console.print(
        f'       "SELECT seq, kind, stage, occurred_at, detail FROM collection_log '
        f"WHERE account_id = '{account_id}' ORDER BY id\""
    )
    console.print(f"     o: cobranza account status {account_id}")
    return report.model_dump()


@app.command()
def demo(
    timeout: Annotated[float, typer.Option(help="Segundos máximos de espera.")] = 300,
) -> None:
    """Demostración completa: stack local, cartera sintética, campaña y reporte."""
    configure_logging(level="WARNING")
    settings = _settings()
    started = time.monotonic()
    console.print("[bold]Cobranza: demostración[/bold] (stack local en .cobranza/)")
    with localstack.stack(settings) as state:
        report = run(_demo(settings, state, timeout))
    elapsed = time.monotonic() - started
    open_accounts = report["open_accounts"]
    console.print(f"Demostración terminada en {elapsed:.0f} s; stack detenido.")
    if open_accounts:
        console.print(f"[yellow]{open_accounts} cuentas siguen en gestión al cerrar.[/yellow]")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
