"""The campaign report ops read: accounts by stage and outcome, contacts, promises, COP recovered.

Read from Postgres (the read models beside the log), never from Temporal visibility.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from cobranza.domain import OUTCOME_LABELS, STAGE_LABELS, Outcome, Stage
from cobranza.money import format_cop


class CampaignReport(BaseModel):
    campaign_id: str
    accounts: int
    open_accounts: int
    by_stage: dict[str, int]
    by_outcome: dict[str, int]
    contacts_sent: int
    contacts_failed: int
    debtor_replies: int
    promises_registered: int
    promises_kept: int
    promises_broken: int
    assigned_cop: int
    recovered_cop: int


async def campaign_report(pool: AsyncConnectionPool, campaign_id: str) -> CampaignReport:
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT count(*), coalesce(sum(balance_cop), 0) FROM campaign_accounts
               WHERE campaign_id = %s AND skipped_reason IS NULL""",
            (campaign_id,),
        )
        accounts, assigned = await cur.fetchone()  # type: ignore[misc]
        cur = await conn.execute(
            """SELECT stage, coalesce(outcome, 'open'), count(*),
                      coalesce(sum(original_balance_cop - balance_cop), 0)
               FROM collections WHERE campaign_id = %s GROUP BY 1, 2""",
            (campaign_id,),
        )
        by_stage: dict[str, int] = {}
        by_outcome: dict[str, int] = {}
        recovered = 0
        open_accounts = 0
        for stage, outcome, count, paid in await cur.fetchall():
            by_stage[stage] = by_stage.get(stage, 0) + count
            by_outcome[outcome] = by_outcome.get(outcome, 0) + count
            recovered += paid
            if outcome == "open":
                open_accounts += count
        cur = await conn.execute(
            """SELECT l.kind, count(*) FROM collection_log l
               JOIN collections c USING (collection_id)
               WHERE c.campaign_id = %s
                 AND l.kind IN ('contact', 'contact_failed', 'debtor_reply',
                                'promise_registered', 'promise_kept', 'promise_broken')
               GROUP BY l.kind""",
            (campaign_id,),
        )
        kinds: dict[str, int] = dict(await cur.fetchall())
    failed = kinds.get("contact_failed", 0)
    return CampaignReport(
        campaign_id=campaign_id,
        accounts=accounts,
        open_accounts=open_accounts,
        by_stage=by_stage,
        by_outcome=by_outcome,
        contacts_sent=kinds.get("contact", 0) - failed,
        contacts_failed=failed,
        debtor_replies=kinds.get("debtor_reply", 0),
        promises_registered=kinds.get("promise_registered", 0),
        promises_kept=kinds.get("promise_kept", 0),
        promises_broken=kinds.get("promise_broken", 0),
        assigned_cop=assigned,
        recovered_cop=recovered,
    )


def print_report(report: CampaignReport, console: Console) -> None:
    console.print(f"[bold]Campaña {report.campaign_id}[/bold]: {report.accounts} cuentas")
    stages = Table(title="Cuentas por etapa")
    stages.add_column("Etapa")
    stages.add_column("Cuentas", justify="right")
    for stage in Stage:
        stages.add_row(STAGE_LABELS[stage], str(report.by_stage.get(stage.value, 0)))
    console.print(stages)
    outcomes = Table(title="Cuentas por resultado")
    outcomes.add_column("Resultado")
    outcomes.add_column("Cuentas", justify="right")
    outcomes.add_row("en gestión", str(report.by_outcome.get("open", 0)))
    for outcome in Outcome:
        outcomes.add_row(OUTCOME_LABELS[outcome], str(report.by_outcome.get(outcome.value, 0)))
    console.print(outcomes)
    summary = Table(title="Gestión")
    summary.add_column("Indicador")
    summary.add_column("Valor", justify="right")
    summary.add_row("Contactos enviados", str(report.contacts_sent))
    summary.add_row("Contactos fallidos", str(report.contacts_failed))
    summary.add_row("Respuestas de deudores", str(report.debtor_replies))
    summary.add_row("Promesas de pago", str(report.promises_registered))
    summary.add_row("Promesas cumplidas", str(report.promises_kept))
    summary.add_row("Promesas incumplidas", str(report.promises_broken))
    summary.add_row("Saldo asignado", format_cop(report.assigned_cop))
    summary.add_row("Recaudo", format_cop(report.recovered_cop))
    console.print(summary)
