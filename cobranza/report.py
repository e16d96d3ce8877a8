"""The campaign report ops read: accounts by stage and outcome, contacts, promises, COP recovered.

Read from Postgres (the read models beside the log), never from Temporal visibility. The KPIs are
defined over the campaign's collections and their `collection_log` rows; docs/ops.md states each
definition in words.
"""

from __future__ import annotations

from datetime import datetime

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from cobranza.domain import OUTCOME_LABELS, STAGE_LABELS, Outcome, Stage
from cobranza.money import format_cop


class CampaignKpis(BaseModel):
    """Rates are fractions (0..1), None when their denominator is zero."""

    # Collections the campaign opened (an account counts once its workflow wrote `opened`).
    accounts_managed: int
    # ...with at least one delivered contact (a `contact` row not followed by `contact_failed`).
    accounts_contacted: int
    # ...where the debtor answered (`debtor_reply`) or committed to pay (`promise_registered`).
    accounts_right_party: int
    # ...with at least one `promise_registered`.
    accounts_promised: int
    # ...closed with outcome paid (a `closed` row whose outcome is `paid`).
    accounts_cured: int
    promises_decided: int
    collected_cop: int
    assigned_cop: int
    contact_rate: float | None
    right_party_contact_rate: float | None
    promise_rate: float | None
    promise_kept_rate: float | None
    cure_rate: float | None
    recovery_rate: float | None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


_KPI_SQL = """
WITH per_collection AS (
    SELECT c.collection_id, c.original_balance_cop,
        count(*) FILTER (WHERE l.kind = 'contact') AS contacts,
        count(*) FILTER (WHERE l.kind = 'contact_failed') AS contacts_failed,
        count(*) FILTER (WHERE l.kind = 'debtor_reply') AS replies,
        count(*) FILTER (WHERE l.kind = 'promise_registered') AS promises,
        count(*) FILTER (WHERE l.kind = 'promise_kept') AS kept,
        count(*) FILTER (WHERE l.kind = 'promise_broken') AS broken,
        coalesce(sum((l.detail->>'applied_cop')::bigint)
                 FILTER (WHERE l.kind = 'payment_received'), 0) AS collected,
        bool_or(l.kind = 'closed' AND l.detail->>'outcome' = 'paid') AS cured
    FROM collections c
    JOIN collection_log l ON l.workflow_id = c.workflow_id AND l.collection_id = c.collection_id
    WHERE c.campaign_id = %s
    GROUP BY c.collection_id, c.original_balance_cop
)
SELECT count(*),
    count(*) FILTER (WHERE contacts > contacts_failed),
    count(*) FILTER (WHERE replies > 0 OR promises > 0),
    count(*) FILTER (WHERE promises > 0),
    count(*) FILTER (WHERE cured),
    coalesce(sum(kept + broken), 0),
    coalesce(sum(kept), 0),
    coalesce(sum(collected), 0),
    coalesce(sum(original_balance_cop), 0)
FROM per_collection
"""


async def campaign_kpis(pool: AsyncConnectionPool, campaign_id: str) -> CampaignKpis:
    async with pool.connection() as conn:
        cur = await conn.execute(_KPI_SQL, (campaign_id,))
        found = await cur.fetchone()
    assert found is not None
    managed, contacted, rpc, promised, cured, decided, kept, collected, assigned = found
    return CampaignKpis(
        accounts_managed=managed,
        accounts_contacted=contacted,
        accounts_right_party=rpc,
        accounts_promised=promised,
        accounts_cured=cured,
        promises_decided=decided,
        collected_cop=collected,
        assigned_cop=assigned,
        contact_rate=_rate(contacted, managed),
        right_party_contact_rate=_rate(rpc, managed),
        promise_rate=_rate(promised, rpc),
        promise_kept_rate=_rate(kept, decided),
        cure_rate=_rate(cured, managed),
        recovery_rate=_rate(collected, assigned),
    )


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
    # The campaign's fan-out as Postgres has it (None for a campaign id that is not in it).
    status: str | None = None
    paused: bool = False
    accounts_started: int = 0
    accounts_skipped: int = 0
    accounts_failed: int = 0
    accounts_pending: int = 0
    lines_rejected: int = 0
    kpis: CampaignKpis | None = None


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
        cur = await conn.execute(
            """SELECT status, paused, accounts_total, accounts_started, accounts_skipped,
                      accounts_failed, lines_rejected FROM campaigns WHERE campaign_id = %s""",
            (campaign_id,),
        )
        campaign = await cur.fetchone()
    kpis = await campaign_kpis(pool, campaign_id)
    fanout: dict[str, object] = {}
    if campaign is not None:
        status, paused, total, started, skipped, failed_starts, rejected = campaign
        fanout = {
            "status": status,
            "paused": paused,
            "accounts_started": started,
            "accounts_skipped": skipped,
            "accounts_failed": failed_starts,
            "accounts_pending": max(0, total - started - skipped - failed_starts),
            "lines_rejected": rejected,
        }
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
        kpis=kpis,
        **fanout,
    )


class SeriesPoint(BaseModel):
    bucket: datetime  # start of the bucket, Bogota wall time
    promises_kept: int
    promises_broken: int
    recovered_cop: int


class CampaignSeries(BaseModel):
    """What the dashboard charts: how far accounts got (a funnel over the stages) and, per time
    bucket, promises decided and COP recovered. Bucket size follows the campaign's span."""

    # Collections that reached each stage (at least once), in stage order.
    funnel: dict[str, int]
    unit: str  # minute, hour, day or week
    points: list[SeriesPoint]


_FUNNEL_SQL = """
SELECT l.stage, count(DISTINCT l.collection_id)
FROM collection_log l JOIN collections c USING (collection_id)
WHERE c.campaign_id = %s GROUP BY l.stage"""

_SPAN_SQL = """
SELECT min(l.occurred_at), max(l.occurred_at)
FROM collection_log l JOIN collections c USING (collection_id)
WHERE c.campaign_id = %s AND l.kind IN ('promise_kept', 'promise_broken', 'payment_received')"""

_SERIES_SQL = """
SELECT date_trunc(%(unit)s, l.occurred_at AT TIME ZONE 'America/Bogota') AS bucket,
    count(*) FILTER (WHERE l.kind = 'promise_kept'),
    count(*) FILTER (WHERE l.kind = 'promise_broken'),
    coalesce(sum((l.detail->>'applied_cop')::bigint)
             FILTER (WHERE l.kind = 'payment_received'), 0)
FROM collection_log l JOIN collections c USING (collection_id)
WHERE c.campaign_id = %(campaign)s
  AND l.kind IN ('promise_kept', 'promise_broken', 'payment_received')
GROUP BY 1 ORDER BY 1"""


def series_unit(span_seconds: float) -> str:
    """The coarsest unit that still gives a readable number of points (at most ~60)."""
    for unit, seconds in (("minute", 60), ("hour", 3600), ("day", 86400)):
        if span_seconds / seconds <= 60:
            return unit
    return "week"


async def campaign_series(pool: AsyncConnectionPool, campaign_id: str) -> CampaignSeries:
    async with pool.connection() as conn:
        cur = await conn.execute(_FUNNEL_SQL, (campaign_id,))
        reached: dict[str, int] = dict(await cur.fetchall())
        cur = await conn.execute(_SPAN_SQL, (campaign_id,))
        span = await cur.fetchone()
        points: list[SeriesPoint] = []
        unit = "day"
        if span is not None and span[0] is not None:
            unit = series_unit((span[1] - span[0]).total_seconds())
            cur = await conn.execute(_SERIES_SQL, {"unit": unit, "campaign": campaign_id})
            points = [
                SeriesPoint(bucket=b, promises_kept=k, promises_broken=br, recovered_cop=cop)
                for b, k, br, cop in await cur.fetchall()
            ]
    funnel = {stage.value: int(reached.get(stage.value, 0)) for stage in Stage}
    return CampaignSeries(funnel=funnel, unit=unit, points=points)


STATUS_LABELS = {
    "imported": "importada",
    "starting": "iniciando cuentas",
    "started": "en gestión",
    "completed": "terminada",
    "cancelled": "cancelada",
}


def _percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f} %".replace(".", ",")


def print_report(report: CampaignReport, console: Console) -> None:
    console.print(f"[bold]Campaña {report.campaign_id}[/bold]: {report.accounts} cuentas")
    if report.status is not None:
        state = STATUS_LABELS.get(report.status, report.status)
        if report.paused:
            state += " (en pausa)"
        console.print(
            f"Estado: {state}. Iniciadas {report.accounts_started}, "
            f"omitidas {report.accounts_skipped}, fallidas {report.accounts_failed}, "
            f"pendientes {report.accounts_pending}; líneas rechazadas {report.lines_rejected}."
        )
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
    if report.kpis is not None:
        k = report.kpis
        kpis = Table(title="Indicadores (definiciones en docs/ops.md)")
        kpis.add_column("Indicador")
        kpis.add_column("Valor", justify="right")
        kpis.add_column("Base", justify="right")
        kpis.add_row(
            "Tasa de contacto",
            _percent(k.contact_rate),
            f"{k.accounts_contacted}/{k.accounts_managed}",
        )
        kpis.add_row(
            "Tasa de contacto efectivo (RPC)",
            _percent(k.right_party_contact_rate),
            f"{k.accounts_right_party}/{k.accounts_managed}",
        )
        kpis.add_row(
            "Tasa de promesa",
            _percent(k.promise_rate),
            f"{k.accounts_promised}/{k.accounts_right_party}",
        )
        kpis.add_row(
            "Cumplimiento de promesas",
            _percent(k.promise_kept_rate),
            f"{report.promises_kept}/{k.promises_decided}",
        )
        kpis.add_row(
            "Tasa de cura", _percent(k.cure_rate), f"{k.accounts_cured}/{k.accounts_managed}"
        )
        kpis.add_row(
            "Tasa de recuperación",
            _percent(k.recovery_rate),
            f"{format_cop(k.collected_cop)} / {format_cop(k.assigned_cop)}",
        )
        console.print(kpis)
