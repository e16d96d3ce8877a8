"""Auditors: `cobranza audit ...` (timeline, verification, bundles).

`cobranza audit ACCOUNT_ID` is short for `cobranza audit account ACCOUNT_ID`. Every verifying
command exits 0 only when every check passes (1 when one fails, 2 on bad input).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from psycopg_pool import AsyncConnectionPool
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from stdnum.co import nit
from typer.core import TyperGroup

from cobranza.audit.account import audit_account as load_audit
from cobranza.audit.bundle import BundleError, export_bundle, verify_bundle
from cobranza.audit.timeline import (
    SOURCE_LABELS,
    TimelineEntry,
    account_timeline,
    merge_timelines,
)
from cobranza.audit.verify import (
    NoCollectionError,
    VerificationReport,
    account_steps,
    load_account,
    verify_campaign,
)
from cobranza.cli.common import console, fail, run, session
from cobranza.cli.common import settings as load_settings
from cobranza.domain import DocumentType
from cobranza.models import workflow_id_for
from cobranza.settings import Settings


class _AccountByDefault(TyperGroup):
    """Lets `audit ACCOUNT_ID ...` mean `audit account ACCOUNT_ID ...`."""

    # Any: typer ships its own copy of click, whose types are private.
    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["account", *args]
        return super().resolve_command(ctx, args)


audit_app = typer.Typer(
    cls=_AccountByDefault,
    no_args_is_help=True,
    help=(
        "Auditoría: línea de tiempo, verificación y paquetes de evidencia. "
        "'cobranza audit CUENTA' equivale a 'cobranza audit account CUENTA'."
    ),
)

# --- rendering -------------------------------------------------------------------------------------


def print_report(report: VerificationReport) -> None:
    console.print(f"[bold]Verificación de la cuenta {report.account_id}[/bold]", highlight=False)
    for collection in report.collections:
        console.print(
            f"  colección {collection.collection_id}: {collection.status}, "
            f"{len(collection.runs)} run(s), {collection.steps} pasos, {collection.rows} filas",
            highlight=False,
        )
    for check in report.checks:
        mark = "[green]✔ APROBADA[/green]" if check.passed else "[bold red]✘ FALLA[/bold red]"
        console.print(f"{mark} {check.title}: ", end="", highlight=False)
        console.print(check.summary, markup=False, highlight=False)
        for problem in check.problems:
            console.print(f"    - {problem}", markup=False, highlight=False)
    for note in report.notes:
        console.print(f"  nota: {note}", markup=False, highlight=False)
    if report.passed:
        console.print("[bold green]Resultado: verificación aprobada.[/bold green]")
    else:
        failed = sum(1 for c in report.checks if not c.passed)
        console.print(f"[bold red]Resultado: {failed} verificación(es) fallida(s).[/bold red]")


def print_timeline(entries: list[TimelineEntry], title: str, *, with_account: bool) -> None:
    table = Table(title=title, show_lines=False, expand=True)
    table.add_column("Hora (Bogotá)", no_wrap=True)
    if with_account:
        table.add_column("Cuenta", no_wrap=True)
    table.add_column("Fuente", no_wrap=True)
    table.add_column("Evento", overflow="fold")
    table.add_column("Observación", style="red", overflow="fold")
    for entry in entries:
        cells = [entry.local_time]
        if with_account:
            cells.append(entry.account_id)
        cells += [SOURCE_LABELS[entry.source], entry.text, entry.warning or ""]
        # Text cells: "[preventiva]" and the like are data, not rich markup.
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)


def print_links(settings: Settings, account_id: str) -> None:
    workflow_id = workflow_id_for(account_id)
    console.print(
        f"  UI de Temporal: http://localhost:8233/namespaces/{settings.temporal_namespace}"
        f"/workflows/{workflow_id}",
        highlight=False,
    )
    console.print(f"  CLI: temporal workflow show -w {workflow_id}", highlight=False)


def _timeline_json(entries: list[TimelineEntry]) -> list[dict[str, Any]]:
    return [entry.model_dump(mode="json") | {"local_time": entry.local_time} for entry in entries]


# --- commands --------------------------------------------------------------------------------------


@audit_app.command("account")
def audit_account(
    account_id: Annotated[str, typer.Argument(help="Cuenta (id interno).")],
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Verificar cadena, conciliación, replay y PII.")
    ] = False,
) -> None:
    """Línea de tiempo completa de una cuenta; con --verify, las cuatro verificaciones."""
    settings = load_settings()

    async def main() -> bool:
        async with session(settings) as (client, pool):
            try:
                audit = await load_audit(client, pool, account_id, verify=verify)
            except NoCollectionError as err:
                raise fail(str(err)) from err
        account, timeline, report = audit.account, audit.timeline, audit.report
        if as_json:
            print(
                json.dumps(
                    {
                        "account_id": account_id,
                        "workflow_id": account.workflow_id,
                        "timeline": _timeline_json(timeline),
                        "verification": report.model_dump(mode="json") if report else None,
                        "passed": report.passed if report else None,
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            print_timeline(timeline, f"Cuenta {account_id}", with_account=False)
            print_links(settings, account_id)
            if report is not None:
                console.print()
                print_report(report)
        return report is None or report.passed

    if not run(main()):
        raise typer.Exit(1)


_DOCUMENT = re.compile(r"^\s*([A-Za-z]+)\s*:\s*(\S.*?)\s*$")


def parse_document(text: str) -> tuple[DocumentType, str]:
    """`CC:12345678` -> (CC, "12345678"); errors never repeat the number."""
    match = _DOCUMENT.match(text)
    if match is None:
        raise fail("documento inválido: use TIPO:NÚMERO, p. ej. CC:12345678", 2)
    kind, number = match.group(1).upper(), match.group(2)
    try:
        document_type = DocumentType(kind)
    except ValueError:
        choices = ", ".join(t.value for t in DocumentType)
        raise fail(f"tipo de documento desconocido {kind!r}; use {choices}", 2) from None
    if document_type is DocumentType.NIT:
        return document_type, nit.compact(number)
    return document_type, re.sub(r"[\s.]", "", number).upper()


async def _debtor_accounts(
    pool: AsyncConnectionPool, document_type: DocumentType, number: str
) -> tuple[str, list[str]] | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT d.debtor_id::text, array_remove(array_agg(a.account_id ORDER BY
                      a.account_id), NULL)
               FROM debtors d LEFT JOIN accounts a USING (debtor_id)
               WHERE d.document_type = %s AND d.document_number = %s
               GROUP BY d.debtor_id""",
            (document_type.value, number),
        )
        found = await cur.fetchone()
    return (found[0], list(found[1])) if found else None


@audit_app.command("debtor")
def audit_debtor(
    document: Annotated[str, typer.Argument(metavar="TIPO:NÚMERO", help="p. ej. CC:12345678")],
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Línea de tiempo de un deudor en todas sus cuentas (el documento no se imprime)."""
    settings = load_settings()
    document_type, number = parse_document(document)

    async def main() -> None:
        async with session(settings) as (client, pool):
            found = await _debtor_accounts(pool, document_type, number)
            if found is None:
                raise fail(f"no hay un deudor con ese documento ({document_type.value})")
            debtor_id, account_ids = found
            timelines = []
            for account_id in account_ids:
                account, rows = await load_account(client, pool, account_id)
                steps, _ = await account_steps(account)
                timelines.append(await account_timeline(account, steps, rows))
        timeline = merge_timelines(timelines)
        if as_json:
            print(
                json.dumps(
                    {
                        "debtor_id": debtor_id,
                        "account_ids": account_ids,
                        "timeline": _timeline_json(timeline),
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
            return
        print_timeline(
            timeline,
            f"Deudor {debtor_id} · {len(account_ids)} cuenta(s): {', '.join(account_ids)}",
            with_account=True,
        )
        for account_id in account_ids:
            print_links(settings, account_id)

    run(main())


@audit_app.command("export")
def audit_export(
    account_id: Annotated[str, typer.Argument(help="Cuenta (id interno).")],
    out: Annotated[Path, typer.Option("--out", help="Carpeta nueva para el paquete.")],
) -> None:
    """Exporta historial, registro, verificación y manifiesto SHA-256 de una cuenta."""
    settings = load_settings()

    async def main() -> VerificationReport:
        async with session(settings) as (client, pool):
            try:
                exported = await export_bundle(client, pool, account_id, out)
            except BundleError as err:
                raise fail(str(err), 2) from err
            except NoCollectionError as err:
                raise fail(str(err)) from err
        print_report(exported.report)
        console.print(f"Paquete escrito en {exported.path}", highlight=False)
        console.print(
            f"SHA-256 de manifest.json: {exported.manifest_sha256} (consérvelo aparte: "
            "ancla el paquete completo)",
            highlight=False,
        )
        return exported.report

    if not run(main()).passed:
        raise typer.Exit(1)


@audit_app.command("verify-bundle")
def audit_verify_bundle(
    folder: Annotated[Path, typer.Argument(help="Carpeta de un paquete exportado.")],
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Verifica un paquete sin conexión: manifiesto, cadena, conciliación y replay."""
    if not folder.is_dir():
        raise fail(f"no existe la carpeta {folder}", 2)
    try:
        report = run(verify_bundle(folder))
    except BundleError as err:
        raise fail(str(err), 2) from err
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        print_report(report)
    if not report.passed:
        raise typer.Exit(1)


@audit_app.command("campaign")
def audit_campaign(
    campaign_id: Annotated[str, typer.Argument(help="Campaña.")],
    verify: Annotated[bool, typer.Option("--verify", help="Verificar cada cuenta.")] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Cuentas a la vez.")
    ] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Verifica todas las cuentas de una campaña (concurrencia acotada) y resume las fallas."""
    if not verify:
        raise fail("indique --verify (por ahora es la única acción de 'audit campaign')", 2)
    settings = load_settings()

    async def main() -> bool:
        async with session(settings) as (client, pool):
            with Progress(
                TextColumn("Verificando cuentas"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                disable=as_json,
            ) as progress:
                task = progress.add_task("verify", total=None)
                result = await verify_campaign(
                    client,
                    pool,
                    campaign_id,
                    concurrency=concurrency,
                    on_total=lambda n: progress.update(task, total=n),
                    on_done=lambda _: progress.advance(task),
                )
        if result.accounts == 0:
            raise fail(f"la campaña {campaign_id!r} no existe o no tiene cuentas")
        if as_json:
            print(result.model_dump_json(indent=2))
            return result.passed
        console.print(
            f"Campaña {campaign_id}: {result.passed_accounts} de {result.accounts} cuentas "
            "aprobadas.",
            highlight=False,
        )
        for report in result.failures:
            failed = [c for c in report.checks if not c.passed]
            console.print(
                f"[bold red]✘[/bold red] {report.account_id}: "
                + "; ".join(f"{c.title} ({len(c.problems)})" for c in failed),
                highlight=False,
            )
            for check in failed:
                for problem in check.problems[:5]:
                    console.print(f"    - {problem}", markup=False, highlight=False)
                if len(check.problems) > 5:
                    console.print(f"    … y {len(check.problems) - 5} más", highlight=False)
        for account_id, error in result.errors.items():
            console.print(f"[bold red]✘[/bold red] {account_id}: {error}", highlight=False)
        if result.passed:
            console.print("[bold green]Resultado: todas las cuentas aprobadas.[/bold green]")
        return result.passed

    if not run(main()):
        raise typer.Exit(1)


__all__ = ["audit_app"]
