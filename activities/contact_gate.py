"""The per-debtor contact gate: every contact to a person is reserved here, under a row lock.

Ley 2300 caps count contacts to the person, not per account: one debtor with three accounts in
two campaigns is still contacted at most once a day and on one channel a week. Each account's
workflow asks this gate before it sends; the gate locks the debtor's row, judges the request with
the pure rules (`cobranza.compliance.decide_contact`) against the person's contacts across all their
accounts, and records a grant. The decision goes back into the account's history and log.
"""

from __future__ import annotations

from datetime import timedelta

from psycopg import AsyncConnection
from temporalio.exceptions import ApplicationError

from cobranza.compliance import (
    ContactAttempt,
    ContactDecision,
    ContactRequest,
    RequestedHours,
    decide_contact,
)
from cobranza.compliance.rules import product_type_from_code
from cobranza.domain import Channel, MessagePurpose
from cobranza.models import ReservationRequest, ReservationResult

# The weekly-channel rule looks back at most a week; a day more covers any week boundary.
_LOOKBACK = timedelta(days=8)


async def reserve_contact(conn: AsyncConnection, request: ReservationRequest) -> ReservationResult:
    """Judge and, if allowed, record one contact to the person; the caller owns the transaction
    (send_contact writes the log row and the outbox message in the same one)."""
    cur = await conn.execute(
        """SELECT d.debtor_id, d.authorized_channels, d.contract_signed_on, a.product
           FROM accounts a JOIN debtors d USING (debtor_id)
           WHERE a.account_id = %s
           FOR UPDATE OF d""",
        (request.account_id,),
    )
    found = await cur.fetchone()
    if found is None:
        raise ApplicationError(
            f"account {request.account_id} not found",
            type="UnknownAccount",
            non_retryable=True,
        )
    debtor_id, channels, contract_signed_on, product = found
    cur = await conn.execute(
        "SELECT 1 FROM contact_reservations WHERE reservation_key = %s",
        (request.reservation_key,),
    )
    if await cur.fetchone() is not None:
        # A retry of an ask that was granted: the grant stands, whatever came after it.
        return ReservationResult(
            decision=ContactDecision(
                verdict="allow",
                not_before=None,
                rule="ley2300.allowed",
                source=request.rules.source("ley2300.allowed"),
                reason="Contacto ya reservado para este paso.",
            ),
            granted=True,
            debtor_contacts_considered=0,
        )
    cur = await conn.execute(
        """SELECT at, channel, purpose, two_way FROM contact_reservations
           WHERE debtor_id = %s AND at >= %s AND reservation_key <> %s ORDER BY at""",
        (debtor_id, request.at - _LOOKBACK, request.reservation_key),
    )
    history = [
        ContactAttempt(
            at=at,
            channel=Channel(channel),
            purpose=MessagePurpose(purpose),
            two_way=two_way,
        )
        for at, channel, purpose, two_way in await cur.fetchall()
    ]
    cur = await conn.execute(
        """SELECT start_time, end_time, weekdays, requested_on, reference
           FROM debtor_requested_hours WHERE debtor_id = %s ORDER BY id""",
        (debtor_id,),
    )
    requested = tuple(
        RequestedHours(
            start=start,
            end=end,
            weekdays=frozenset(days),
            requested_on=on,
            reference=reference,
        )
        for start, end, days, on, reference in await cur.fetchall()
    )
    decision = decide_contact(
        ContactRequest(
            at=request.at,
            channel=request.channel,
            recipient_role=request.recipient_role,
            purpose=request.purpose,
            authorized_channels=frozenset(Channel(c) for c in channels),
            requested_hours=requested,
            contract_signed_on=contract_signed_on,
            on_hold=request.on_hold,
            product_type=product_type_from_code(product),
        ),
        history,
        request.rules,
    )
    granted = decision.verdict == "allow"
    if granted:
        # A retried ask finds its own reservation and is granted again, not twice.
        await conn.execute(
            """INSERT INTO contact_reservations (reservation_key, debtor_id, account_id,
                   channel, purpose, at)
               VALUES (%s, %s, %s, %s, %s, %s)
               ON CONFLICT (reservation_key) DO NOTHING""",
            (
                request.reservation_key,
                debtor_id,
                request.account_id,
                request.channel.value,
                request.purpose.value,
                request.at,
            ),
        )
    return ReservationResult(
        decision=decision, granted=granted, debtor_contacts_considered=len(history)
    )
