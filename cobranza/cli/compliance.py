"""Compliance: `cobranza compliance windows` and `cobranza compliance explain`."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated

import typer
from rich.table import Table

from cobranza.cli.common import console, db_pool, fail, local_time, run, temporal_client
from cobranza.cli.common import settings as load_settings
from cobranza.compliance import ComplianceError, load_contact_rules
from cobranza.domain import BOGOTA, CHANNEL_LABELS
from cobranza.explain import UnknownAccountError, contact_windows, explain_account
from cobranza.operations import OperationError, account_status

compliance_app = typer.Typer(help="Cumplimiento: ventanas legales de contacto y explicaciones.")

_VERDICTS = {"allow": "permitido", "defer": "diferido", "refuse": "rechazado"}


@compliance_app.command("windows")
def windows(
    start: Annotated[str, typer.Option("--from", help="Fecha inicial AAAA-MM-DD.")],
    days: Annotated[int, typer.Option("--days", min=1, max=366, help="Número de días.")] = 14,
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
    version: Annotated[
        str | None, typer.Option("--rules", help="Versión de las reglas (por defecto, la vigente).")
    ] = None,
) -> None:
    """Ventanas legales de contacto por día (Ley 2300), con los festivos nombrados."""
    try:
        first = date.fromisoformat(start)
    except ValueError as err:
        raise fail(f"--from: fecha inválida {start!r} (use AAAA-MM-DD)", 2) from err
    try:
        rules = load_contact_rules(version)
    except ComplianceError as err:
        raise fail(f"--rules: versión de reglas desconocida {version!r} ({err})", 2) from err
    listing = contact_windows(first, days, rules)
    if as_json:
        print(
            json.dumps([d.model_dump(mode="json") for d in listing], ensure_ascii=False, indent=2)
        )
        return
    table = Table(title=f"Ventanas de contacto (reglas {rules.version}, hora de Bogotá)")
    table.add_column("Fecha")
    table.add_column("Día")
    table.add_column("Ventanas")
    table.add_column("Festivo")
    weekdays = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"]
    for day in listing:
        spans = ", ".join(f"{w['start']}–{w['end']}" for w in day.windows) or "sin contacto"
        table.add_row(day.date.isoformat(), weekdays[day.date.weekday()], spans, day.holiday or "")
    console.print(table)


@compliance_app.command("explain")
def explain(account_id: str) -> None:
    """Cuándo se puede contactar la cuenta de nuevo, por qué canales y por qué."""
    settings = load_settings()

    async def main() -> None:
        client = await temporal_client(settings)
        try:
            status = await account_status(client, account_id)
            version = status.contact_rules_version
            waiting = status.waiting_for_window_until
        except OperationError:
            version, waiting = None, None
        rules = load_contact_rules(version)
        async with db_pool(settings) as pool:
            try:
                result = await explain_account(pool, account_id, rules, datetime.now(BOGOTA))
            except UnknownAccountError as err:
                raise fail(str(err)) from err
        console.print(f"[bold]Cuenta {account_id}[/bold] · reglas {result.rules_version}")
        channels = ", ".join(CHANNEL_LABELS[c] for c in result.authorized_channels) or "ninguno"
        console.print(f"Canales autorizados por el deudor: {channels}")
        if result.channel_of_week:
            console.print(f"Canal de esta semana: {CHANNEL_LABELS[result.channel_of_week]}")
        console.print(f"Contactos hoy a esta persona (todas sus cuentas): {result.contacts_today}")
        if waiting:
            console.print(f"La cobranza espera una ventana legal hasta {local_time(waiting)}.")
        table = Table(title=f"Si se contactara ahora ({local_time(result.at)})")
        table.add_column("Canal")
        table.add_column("Decisión")
        table.add_column("Desde")
        table.add_column("Regla")
        table.add_column("Motivo")
        for verdict in result.verdicts:
            d = verdict.decision
            table.add_row(
                CHANNEL_LABELS[verdict.channel],
                _VERDICTS[d.verdict],
                local_time(d.not_before) if d.verdict == "defer" else "",
                f"{d.rule} ({d.source})",
                d.reason,
            )
        console.print(table)

    run(main())
