"""Why and when an account may be contacted next: the rules applied to the debtor's record now.

Used by `cobranza compliance explain` (and later the web console). It asks the same pure function
the gate uses, with the person's contacts across all their accounts, so the answer is the one the
gate would give at this instant.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from cobranza.compliance import (
    ContactAttempt,
    ContactDecision,
    ContactRequest,
    ContactRules,
    RequestedHours,
    channel_of_week,
    decide_contact,
    holiday_name,
    windows_for_day,
)
from cobranza.compliance.rules import product_type_from_code
from cobranza.domain import BOGOTA, Channel, MessagePurpose


class DayWindows(BaseModel):
    date: date
    windows: list[dict[str, str]]
    holiday: str | None


def contact_windows(start: date, days: int, rules: ContactRules) -> list[DayWindows]:
    out = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        out.append(
            DayWindows(
                date=day,
                windows=[
                    {
                        "start": w.start.astimezone(BOGOTA).strftime("%H:%M"),
                        "end": w.end.astimezone(BOGOTA).strftime("%H:%M"),
                    }
                    for w in windows_for_day(day, rules)
                ],
                holiday=holiday_name(day),
            )
        )
    return out


class ChannelVerdict(BaseModel):
    channel: Channel
    decision: ContactDecision


class Explanation(BaseModel):
    account_id: str
    at: datetime
    rules_version: str
    authorized_channels: list[Channel]
    channel_of_week: Channel | None
    contacts_today: int
    verdicts: list[ChannelVerdict]


class UnknownAccountError(LookupError):
    pass


async def explain_account(
    pool: AsyncConnectionPool, account_id: str, rules: ContactRules, at: datetime
) -> Explanation:
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT d.debtor_id, d.authorized_channels, d.contract_signed_on, a.product
               FROM accounts a JOIN debtors d USING (debtor_id) WHERE a.account_id = %s""",
            (account_id,),
        )
        found = await cur.fetchone()
        if found is None:
            raise UnknownAccountError(f"la cuenta {account_id!r} no existe")
        debtor_id, channels, signed_on, product = found
        cur = await conn.execute(
            """SELECT at, channel, purpose, two_way FROM contact_reservations
               WHERE debtor_id = %s AND at >= %s ORDER BY at""",
            (debtor_id, at - timedelta(days=8)),
        )
        history = [
            ContactAttempt(at=a, channel=Channel(c), purpose=MessagePurpose(p), two_way=t)
            for a, c, p, t in await cur.fetchall()
        ]
        cur = await conn.execute(
            """SELECT start_time, end_time, weekdays, requested_on, reference
               FROM debtor_requested_hours WHERE debtor_id = %s ORDER BY id""",
            (debtor_id,),
        )
        requested = tuple(
            RequestedHours(start=s, end=e, weekdays=frozenset(w), requested_on=o, reference=r)
            for s, e, w, o, r in await cur.fetchall()
        )
    authorized = sorted(Channel(c) for c in channels)
    candidates = authorized or [Channel.SMS]
    verdicts = [
        ChannelVerdict(
            channel=channel,
            decision=decide_contact(
                ContactRequest(
                    at=at,
                    channel=channel,
                    authorized_channels=frozenset(authorized),
                    requested_hours=requested,
                    contract_signed_on=signed_on,
                    product_type=product_type_from_code(product),
                ),
                history,
                rules,
            ),
        )
        for channel in candidates
    ]
    today = at.astimezone(BOGOTA).date()
    return Explanation(
        account_id=account_id,
        at=at,
        rules_version=rules.version,
        authorized_channels=authorized,
        channel_of_week=channel_of_week(history, at, rules),
        contacts_today=sum(1 for h in history if h.at.astimezone(BOGOTA).date() == today),
        verdicts=verdicts,
    )
