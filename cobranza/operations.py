"""What people and systems do to one account: report a payment, register a promise, pause, resume,
cancel, read status. The CLI, the demo's simulated debtors and (later) the web console share these.

Each validates before it signals, so a rejected request changes nothing; the workflow validates
again and records any rejection in its log.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from cobranza.domain import BOGOTA
from cobranza.models import (
    CollectionStatus,
    ControlRequest,
    PaymentReceived,
    PromiseToPay,
    workflow_id_for,
)
from cobranza.money import format_cop
from workflows.collection import CollectionWorkflow


class OperationError(ValueError):
    """A request refused before anything was sent; the message is for people (Spanish)."""


async def _open_handle(client: Client, account_id: str):  # type: ignore[no-untyped-def]
    handle = client.get_workflow_handle_for(CollectionWorkflow.run, workflow_id_for(account_id))
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise OperationError(f"la cuenta {account_id!r} no tiene cobranza") from err
        raise
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise OperationError(f"la cobranza de la cuenta {account_id!r} ya terminó")
    return handle


async def account_status(client: Client, account_id: str) -> CollectionStatus:
    handle = client.get_workflow_handle_for(CollectionWorkflow.run, workflow_id_for(account_id))
    try:
        return await handle.query(CollectionWorkflow.status)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise OperationError(f"la cuenta {account_id!r} no tiene cobranza") from err
        raise


PaymentOutcome = Literal["applied", "duplicate"]


async def report_payment(
    client: Client,
    pool: AsyncConnectionPool,
    *,
    account_id: str,
    amount_cop: int,
    reference: str,
    paid_at: datetime | None = None,
    source: str = "core_banking",
) -> PaymentOutcome:
    """Record the payment (unique by reference) and signal the account's workflow.

    A repeated reference is not recorded twice; it is signalled again, harmlessly, so a payment
    whose first signal was lost still reaches the workflow (which counts each reference once).
    """
    if amount_cop <= 0:
        raise OperationError("el monto del pago debe ser mayor que cero")
    if paid_at is not None and paid_at > datetime.now(BOGOTA) + timedelta(minutes=5):
        raise OperationError("la fecha del pago (--paid-at) no puede ser futura")
    payment = PaymentReceived(
        amount_cop=amount_cop,
        reference=reference,
        paid_at=paid_at or datetime.now(BOGOTA),
        source=source,
    )
    handle = await _open_handle(client, account_id)
    async with pool.connection() as conn:
        cur = await conn.execute(
            """INSERT INTO payments (payment_reference, account_id, amount_cop, paid_at, source)
               VALUES (%s, %s, %s, %s, %s) ON CONFLICT (payment_reference) DO NOTHING
               RETURNING payment_reference""",
            (reference, account_id, amount_cop, payment.paid_at, source),
        )
        inserted = await cur.fetchone() is not None
        if not inserted:
            cur = await conn.execute(
                "SELECT account_id, amount_cop FROM payments WHERE payment_reference = %s",
                (reference,),
            )
            row = await cur.fetchone()
            if row is not None and (row[0] != account_id or row[1] != amount_cop):
                raise OperationError(
                    f"la referencia {reference!r} ya se usó para otro pago "
                    f"(cuenta {row[0]}, monto distinto)"
                )
    await handle.signal(CollectionWorkflow.payment_received, payment)
    return "applied" if inserted else "duplicate"


def end_of_day(day: date) -> datetime:
    """A promise "for" a date is due at the end of that day in Bogota."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=BOGOTA)


async def register_promise(
    client: Client,
    *,
    account_id: str,
    amount_cop: int,
    due: date,
    source: str = "cli",
    now: datetime | None = None,
) -> None:
    handle = await _open_handle(client, account_id)
    status = await handle.query(CollectionWorkflow.status)
    now = now or datetime.now(BOGOTA)
    due_at = end_of_day(due)
    if amount_cop <= 0:
        raise OperationError("el monto prometido debe ser mayor que cero")
    if amount_cop > status.balance_cop:
        raise OperationError(
            f"el monto prometido ({format_cop(amount_cop)}) supera el saldo "
            f"({format_cop(status.balance_cop)})"
        )
    if due_at <= now:
        raise OperationError("la fecha de pago prometida debe ser futura")
    if due_at > status.promise_horizon_until:
        limit = status.promise_horizon_until.astimezone(BOGOTA).strftime("%Y-%m-%d %H:%M")
        raise OperationError(
            f"la fecha de pago prometida supera el horizonte de la estrategia ({limit})"
        )
    await handle.signal(
        CollectionWorkflow.promise_registered,
        PromiseToPay(amount_cop=amount_cop, due_at=due_at, source=source),
    )


Control = Literal["pause", "resume", "cancel"]


async def control_account(
    client: Client, account_id: str, action: Control, *, requested_by: str, reason: str = ""
) -> None:
    handle = await _open_handle(client, account_id)
    request = ControlRequest(requested_by=requested_by, reason=reason)
    signal = {
        "pause": CollectionWorkflow.pause,
        "resume": CollectionWorkflow.resume,
        "cancel": CollectionWorkflow.cancel,
    }[action]
    await handle.signal(signal, request)


__all__ = [
    "OperationError",
    "account_status",
    "control_account",
    "end_of_day",
    "register_promise",
    "report_payment",
    "timedelta",
]
