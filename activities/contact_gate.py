"""The per-debtor contact gate: every contact to a person is judged against all their contacts.

Ley 2300 caps count contacts to the person, not per account: one debtor with three accounts in
two campaigns is still contacted at most once a day and on one channel a week. Each account's
workflow asks this gate before it sends. The gate reads everything it judges about the person in
one statement (`contact_gate_state`, migration 0007), decides with the pure rules
(`cobranza.compliance.decide_contact`), and a granted contact is committed by
`contact_send_commit`, which locks the person, checks the state is still the one judged, and
writes the reservation, the log row and the outbox message together. A state that changed in
between (another account's contact, an agent's edit) is judged again; the decision goes back
into the account's history and log.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict
from temporalio.exceptions import ApplicationError

from activities.steplog import LOG_ROW_ARGS, log_row_params, log_write_errors
from cobranza.compliance import (
    ContactAttempt,
    ContactDecision,
    ContactRequest,
    RequestedHours,
    decide_contact,
)
from cobranza.compliance.rules import product_type_from_code
from cobranza.domain import Channel
from cobranza.models import LogEntry, ReservationRequest, ReservationResult

# The debtors columns a channel can use.
_POINTS = frozenset({"phone", "email", "address"})

# The weekly-channel rule looks back at most a week; a day more covers any week boundary.
_LOOKBACK = timedelta(days=8)

_READ = "SELECT s, md5(s::text) FROM contact_gate_state(%s, %s, %s, %s) AS s"

# The gate's check, the reservation, the log row and the outbox message: one statement.
_COMMIT = f"""SELECT gate, inserted, status, provider_message_id, reply, queued_destination,
        queued_body
    FROM contact_send_commit(
        p_point => %(p_point)s, p_since => %(p_since)s, p_digest => %(p_digest)s,
        p_key => %(p_key)s, p_channel => %(p_channel)s, p_purpose => %(p_purpose)s,
        p_at => %(p_at)s, {LOG_ROW_ARGS}, p_message_key => %(p_message_key)s,
        p_template => %(p_template)s, p_destination => %(p_destination)s, p_body => %(p_body)s)"""


class Reservation(ContactAttempt):
    """A granted contact as the rules count it, with the key of the ask that reserved it."""

    key: str


class GateState(BaseModel):
    """What the gate judges about one person, as read; personal data, so it stays in the
    activity (the outbox row), never in a Temporal payload."""

    model_config = ConfigDict(frozen=True)

    debtor_id: str
    authorized_channels: frozenset[Channel]
    contract_signed_on: date | None
    product: str
    full_name: str
    destination: str | None  # None when missing or marked invalid by an agent
    hours: tuple[RequestedHours, ...]
    reservations: tuple[Reservation, ...]


class GateView(BaseModel):
    """A state and the digest `contact_send_commit` compares it with."""

    model_config = ConfigDict(frozen=True)

    point: str
    since: datetime
    state: GateState
    digest: str


async def read_gate(conn: AsyncConnection, request: ReservationRequest, point: str) -> GateView:
    """One statement, no lock: the commit checks the state is unchanged before it writes."""
    if point not in _POINTS:
        raise ValueError(f"unknown contact point {point!r}")
    since = request.at - _LOOKBACK
    cur = await conn.execute(_READ, (request.account_id, point, since, request.reservation_key))
    found: tuple[dict[str, Any] | None, str | None] | None = await cur.fetchone()
    if found is None or found[0] is None or found[1] is None:
        raise ApplicationError(
            f"account {request.account_id} not found",
            type="UnknownAccount",
            non_retryable=True,
        )
    return GateView(
        point=point, since=since, state=GateState.model_validate(found[0]), digest=found[1]
    )


def judge(view: GateView, request: ReservationRequest) -> ReservationResult:
    """The gate's decision on the state read: pure, so it is the same however often it runs."""
    state = view.state
    if any(r.key == request.reservation_key for r in state.reservations):
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
    history = [r for r in state.reservations if r.at >= view.since]
    decision = decide_contact(
        ContactRequest(
            at=request.at,
            channel=request.channel,
            recipient_role=request.recipient_role,
            purpose=request.purpose,
            authorized_channels=state.authorized_channels,
            requested_hours=state.hours,
            contract_signed_on=state.contract_signed_on,
            on_hold=request.on_hold,
            product_type=product_type_from_code(state.product),
        ),
        history,
        request.rules,
    )
    return ReservationResult(
        decision=decision,
        granted=decision.verdict == "allow",
        debtor_contacts_considered=len(history),
    )


class Committed(NamedTuple):
    """What `contact_send_commit` answered, and what is queued: this call's message or, on a
    retry, the first attempt's."""

    gate: str  # granted, stale or unknown_account
    inserted: bool | None
    status: str | None
    provider_message_id: str | None
    reply: dict[str, Any] | None
    queued_destination: str | None
    queued_body: str | None


async def commit_contact(
    conn: AsyncConnection,
    view: GateView,
    request: ReservationRequest,
    entry: LogEntry,
    *,
    key: str,
    template: str,
    body: str,
) -> Committed:
    """One statement: if the person's state is still `view`'s, the reservation, the log row and
    the outbox message (idempotency `key`) together; otherwise nothing ('stale')."""
    with log_write_errors(entry.account_id):
        cur = await conn.execute(
            _COMMIT,
            {
                "p_point": view.point,
                "p_since": view.since,
                "p_digest": view.digest,
                "p_key": request.reservation_key,
                "p_channel": request.channel.value,
                "p_purpose": request.purpose.value,
                "p_at": request.at,
                **log_row_params(entry),
                "p_message_key": key,
                "p_template": template,
                "p_destination": view.state.destination,
                "p_body": body,
            },
        )
        found = await cur.fetchone()
    assert found is not None
    return Committed(*found)
