"""Accounts, payments and promises: `cobranza account ...`, `payment`, `promise`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from cobranza.cli.common import amount as parse_amount
from cobranza.cli.common import (
    console,
    fail,
    local_time,
    run,
    session,
    temporal_client,
)
from cobranza.cli.common import settings as load_settings
from cobranza.domain import BOGOTA, OUTCOME_LABELS, STAGE_LABELS
from cobranza.money import format_cop
from cobranza.operations import (
    Control,
    OperationError,
    account_status,
    control_account,
    register_promise,
    report_payment,
)

account_app = typer.Typer(help="Cuentas: estado, pausa, reanudación y cancelación.")
app = typer.Typer()


@account_app.command("status")
def account_status_cmd(
    account_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Estado completo de la cobranza de una cuenta."""
    settings = load_settings()

    async def main() -> None:
        client = await temporal_client(settings)
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
                f"{format_cop(promise.amount_cop)} para {local_time(promise.due_at)}",
            )
        table.add_row("Próxima acción", local_time(status.next_wake_up))
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
        settings = load_settings()

        async def main() -> None:
            client = await temporal_client(settings)
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
    settings = load_settings()
    amount_cop = parse_amount(amount, "--amount")
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
    settings = load_settings()
    amount_cop = parse_amount(amount, "--amount")
    try:
        due_date = date.fromisoformat(due)
    except ValueError as err:
        raise fail(f"--due: fecha inválida {due!r} (use AAAA-MM-DD)", 2) from err

    async def main() -> None:
        client = await temporal_client(settings)
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
