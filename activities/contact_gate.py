"""The per-debtor contact gate: every contact to a person is reserved here, under a row lock.

Ley 2300 caps count contacts to the person, not per account: one debtor with three accounts in
two campaigns is still contacted at most once a day and on one channel a week. Each account's
workflow asks this gate before it sends; the gate locks the debtor's row, judges the request with
the pure rules (`cobranza.compliance.decide_contact`) against the person's contacts across all their
accounts, and records a grant. The decision goes back into the account's history and log.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from cobranza.domain import Channel
from cobranza.models import ReservationRequest, ReservationResult

# The debtors columns a channel can use (interpolated into SQL, so checked against this set).
_POINTS = frozenset({"phone", "email", "address"})

# The weekly-channel rule looks back at most a week; a day more covers any week boundary.
_LOOKBACK = timedelta(days=8)


@dataclass(frozen=True)
class Recipient:
    """Who a granted contact goes to, read under the debtor's lock. Personal data: it stays in
    the activity (the outbox row), never in a Temporal payload."""

    destination: str | None  # None when missing or marked invalid by an agent
    full_name: str
    product: str


async def reserve_contact(
    conn: AsyncConnection, request: ReservationRequest, point: str
) -> tuple[ReservationResult, Recipient]:
    """Judge and, if allowed, record one contact to the person; the caller owns the transaction
    (send_contact writes the log row and the outbox message in the same one). `point` is the
    debtors column the channel uses (phone, email, address); its value comes back in Recipient,
    read with the lock, so the message needs no statement of its own."""
    if point not in _POINTS:
        raise ValueError(f"unknown contact point {point!r}")
    # Lock the person first and read their record with it. Their contacts are read in a second
    # statement: under READ COMMITTED a statement that waited for the lock still sees its own
    # older snapshot, so a reservation another account just committed would be missed.
    cur = await conn.execute(
        f"""SELECT d.debtor_id, d.authorized_channels, d.contract_signed_on, a.product,
                  (SELECT coalesce(json_agg(json_build_object(
                              'start', h.start_time, 'end', h.end_time, 'weekdays', h.weekdays,
                              'requested_on', h.requested_on, 'reference', h.reference)
                              ORDER BY h.id), '[]')
                     FROM debtor_requested_hours h WHERE h.debtor_id = d.debtor_id),
                  -- A contact point an agent marked invalid (wrong number) is never used again.
                  CASE WHEN EXISTS (SELECT 1 FROM contact_points_invalid i
                           WHERE i.debtor_id = d.debtor_id AND i.point = %s
                             AND i.value = d.{point}) THEN NULL ELSE d.{point} END,
                  d.full_name
           FROM accounts a JOIN debtors d USING (debtor_id)
           WHERE a.account_id = %s
           FOR UPDATE OF d""",
        (point, request.account_id),
    )
    found = await cur.fetchone()
    if found is None:
        raise ApplicationError(
            f"account {request.account_id} not found",
            type="UnknownAccount",
            non_retryable=True,
        )
    debtor_id, channels, contract_signed_on, product, hours, destination, full_name = found
    recipient = Recipient(destination=destination, full_name=full_name, product=product)
    cur = await conn.execute(
        """SELECT at, channel, purpose, two_way, reservation_key FROM contact_reservations
           WHERE debtor_id = %s AND (at >= %s OR reservation_key = %s) ORDER BY at""",
        (debtor_id, request.at - _LOOKBACK, request.reservation_key),
    )
    reservations = [
        {"at": at, "channel": ch, "purpose": pu, "two_way": tw, "key": key}
        for at, ch, pu, tw, key in await cur.fetchall()
    ]
    if any(r["key"] == request.reservation_key for r in reservations):
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
        ), recipient
    history = [
        ContactAttempt(at=r["at"], channel=r["channel"], purpose=r["purpose"], two_way=r["two_way"])
        for r in reservations
        if r["at"] >= request.at - _LOOKBACK
    ]
    requested = tuple(RequestedHours.model_validate(h) for h in hours)
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
    result = ReservationResult(
        decision=decision, granted=granted, debtor_contacts_considered=len(history)
    )
    return result, recipient
