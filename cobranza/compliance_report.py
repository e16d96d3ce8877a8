"""What Ley 2300 held back in a campaign: deferrals and refusals by rule, and who is waiting.

Accounts whose next contact waits for a legal window (or the debtor's daily or weekly cap) are
waiting, not failing: the report says until when.
"""

from __future__ import annotations

from datetime import datetime

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from cobranza.domain import BOGOTA


class RuleCount(BaseModel):
    rule: str
    source: str
    verdict: str  # deferred | refused
    count: int
    latest_until: datetime | None


class ComplianceSummary(BaseModel):
    campaign_id: str
    by_rule: list[RuleCount]
    waiting_accounts: int
    waiting_until: datetime | None


async def compliance_summary(
    pool: AsyncConnectionPool, campaign_id: str, now: datetime
) -> ComplianceSummary:
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT l.detail->>'rule', l.detail->>'source',
                      CASE l.kind WHEN 'contact_deferred' THEN 'deferred' ELSE 'refused' END,
                      count(*), max((l.detail->>'not_before')::timestamptz)
               FROM collection_log l JOIN collections c USING (collection_id)
               WHERE c.campaign_id = %s AND l.kind IN ('contact_deferred', 'contact_refused')
               GROUP BY 1, 2, 3 ORDER BY 4 DESC""",
            (campaign_id,),
        )
        by_rule = [
            RuleCount(rule=r, source=s, verdict=v, count=n, latest_until=u)
            for r, s, v, n, u in await cur.fetchall()
        ]
        # An open collection whose latest row is a deferral into the future is waiting.
        cur = await conn.execute(
            """SELECT count(*), max(until) FROM (
                   SELECT DISTINCT ON (c.collection_id) l.kind,
                          (l.detail->>'not_before')::timestamptz AS until
                   FROM collections c JOIN collection_log l USING (collection_id)
                   WHERE c.campaign_id = %s AND c.outcome IS NULL
                   ORDER BY c.collection_id, l.seq DESC) latest
               WHERE kind = 'contact_deferred' AND until > %s""",
            (campaign_id, now),
        )
        found = await cur.fetchone()
    waiting, until = found if found else (0, None)
    return ComplianceSummary(
        campaign_id=campaign_id, by_rule=by_rule, waiting_accounts=waiting, waiting_until=until
    )


def print_compliance(summary: ComplianceSummary, console: Console) -> None:
    table = Table(title="Ley 2300: contactos diferidos y rechazados")
    table.add_column("Regla")
    table.add_column("Fuente")
    table.add_column("Decisión")
    table.add_column("Contactos", justify="right")
    table.add_column("Hasta (Bogotá)")
    for row in summary.by_rule:
        until = (
            row.latest_until.astimezone(BOGOTA).strftime("%Y-%m-%d %H:%M")
            if row.latest_until
            else ""
        )
        table.add_row(
            row.rule,
            row.source,
            "diferido" if row.verdict == "deferred" else "rechazado",
            str(row.count),
            until,
        )
    if not summary.by_rule:
        table.add_row("—", "", "ninguno", "0", "")
    console.print(table)
    if summary.waiting_accounts:
        until = (
            summary.waiting_until.astimezone(BOGOTA).strftime("%Y-%m-%d %H:%M")
            if summary.waiting_until
            else ""
        )
        console.print(
            f"{summary.waiting_accounts} cuentas esperan una ventana legal de contacto "
            f"(hasta {until}): están en espera, no fallidas."
        )
