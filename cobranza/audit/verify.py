"""`--verify`: the four checks an auditor relies on, each with its specifics.

(a) chain: every `collection_log` row of the account links to the one before (hash chain intact);
(b) reconcile: every step in the history has exactly one row and every row its step, same content;
(c) replay: the current workflow code replays every run and reproduces every decision;
(d) pii: no debtor's name, document, phone or email in histories, search attributes or memos.
The account passes only when all four pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Literal

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio.client import Client

from cobranza.audit.history import AccountHistory, fetch_account_history
from cobranza.audit.logrows import LogRow, chain_breaks, fetch_rows
from cobranza.audit.pii import PiiIndex, fetch_debtors, scan_runs
from cobranza.audit.reconcile import Discrepancy, HistoryStep, history_steps, reconcile
from cobranza.audit.replay import ReplayOutcome, ReplayService, replay_histories

CheckKey = Literal["manifest", "chain", "reconcile", "replay", "pii"]

CHECK_TITLES: dict[CheckKey, str] = {
    "manifest": "Archivos del paquete sin alterar (SHA-256 del manifiesto)",
    "chain": "Cadena de hashes de collection_log intacta",
    "reconcile": "Historial y registro coinciden uno a uno",
    "replay": "El código actual reproduce cada decisión (replay)",
    "pii": "Sin datos personales en historial, atributos de búsqueda ni memo",
}

_CHAIN_PROBLEMS = {
    "content does not match hash": "su contenido no corresponde a su hash (fila modificada)",
    "prev_hash does not match the previous row (row missing or inserted)": (
        "su prev_hash no enlaza con la fila anterior (fila borrada o insertada antes de ésta)"
    ),
}


class CheckResult(BaseModel):
    key: CheckKey
    title: str
    passed: bool
    summary: str
    problems: list[str] = []


class CollectionSummary(BaseModel):
    collection_id: str
    runs: list[str]
    status: str
    steps: int
    rows: int


class VerificationReport(BaseModel):
    account_id: str
    workflow_id: str
    verified_at: datetime
    collections: list[CollectionSummary]
    rows: int
    checks: list[CheckResult]
    notes: list[str] = []

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def check(self, key: CheckKey) -> CheckResult | None:
        return next((c for c in self.checks if c.key == key), None)


def check_chain(rows: Sequence[LogRow]) -> CheckResult:
    breaks = chain_breaks(rows)
    problems = [
        f"fila id {b.row_id} (seq {b.seq}): {_CHAIN_PROBLEMS.get(b.problem, b.problem)}"
        for b in breaks
    ]
    return CheckResult(
        key="chain",
        title=CHECK_TITLES["chain"],
        passed=not breaks,
        summary=(
            f"{len(rows)} filas, cadena intacta" if not breaks else f"{len(breaks)} rotura(s)"
        ),
        problems=problems,
    )


async def account_steps(
    account: AccountHistory,
) -> tuple[list[HistoryStep], list[Discrepancy]]:
    unreadable: list[Discrepancy] = []
    steps: list[HistoryStep] = []
    for collection in account.collections:
        steps.extend(await history_steps(collection, unreadable))
    return steps, unreadable


def check_reconcile(
    steps: Sequence[HistoryStep],
    rows: Sequence[LogRow],
    unreadable: Sequence[Discrepancy] = (),
    missing_collections: Sequence[str] = (),
) -> CheckResult:
    report = reconcile(steps, rows)
    problems = [d.message for d in unreadable] + [d.message for d in report.discrepancies]
    problems += [
        f"colección {c}: está en el registro pero Temporal no tiene su historial "
        "(¿retención vencida o id falso?)"
        for c in missing_collections
    ]
    summary = (
        f"{report.steps} pasos en el historial, {report.rows} filas, {report.matched} coinciden"
    )
    if report.pending:
        summary += f"; {len(report.pending)} paso(s) en curso sin fila aún"
    if report.unrecorded:
        summary += f"; {len(report.unrecorded)} paso(s) cuya actividad falló (sin fila)"
    return CheckResult(
        key="reconcile",
        title=CHECK_TITLES["reconcile"],
        passed=not problems,
        summary=summary,
        problems=problems,
    )


def check_replay(outcomes: Sequence[ReplayOutcome]) -> CheckResult:
    failed = [o for o in outcomes if not o.passed]
    return CheckResult(
        key="replay",
        title=CHECK_TITLES["replay"],
        passed=bool(outcomes) and not failed,
        summary=(
            f"{len(outcomes) - len(failed)} de {len(outcomes)} run(s) reproducidas"
            if outcomes
            else "no hay historial que reproducir"
        ),
        problems=[o.describe() for o in failed],
    )


def check_pii(account: AccountHistory, index: PiiIndex) -> CheckResult:
    findings = scan_runs(account.runs, index)
    return CheckResult(
        key="pii",
        title=CHECK_TITLES["pii"],
        passed=not findings,
        summary=(
            f"{len(account.runs)} run(s) revisadas contra {len(index.debtors)} deudor(es)"
            if not findings
            else f"{len(findings)} hallazgo(s)"
        ),
        problems=[f.describe() for f in findings],
    )


def summarize(
    account: AccountHistory, steps: Sequence[HistoryStep], rows: Sequence[LogRow]
) -> list[CollectionSummary]:
    summaries = [
        CollectionSummary(
            collection_id=c.collection_id,
            runs=[r.run_id for r in c.runs],
            status=c.runs[-1].status_label,
            steps=sum(1 for s in steps if s.collection_id == c.collection_id),
            rows=sum(1 for r in rows if r.collection_id == c.collection_id),
        )
        for c in account.collections
    ]
    return summaries


async def evaluate(
    account: AccountHistory,
    rows: Sequence[LogRow],
    *,
    pii_index: PiiIndex | None,
    replay: ReplayService | None = None,
) -> VerificationReport:
    """The checks over what was fetched (or read from a bundle); PII needs the debtors."""
    steps, unreadable = await account_steps(account)
    histories = [r.history for r in account.runs]
    outcomes = await (replay.replay(histories) if replay else replay_histories(histories))
    checks = [
        check_chain(rows),
        check_reconcile(steps, rows, unreadable, account.missing_collections),
        check_replay(outcomes),
    ]
    if pii_index is not None:
        checks.append(check_pii(account, pii_index))
    return VerificationReport(
        account_id=account.account_id,
        workflow_id=account.workflow_id,
        verified_at=datetime.now(UTC),
        collections=summarize(account, steps, rows),
        rows=len(rows),
        checks=checks,
        notes=list(account.notes),
    )


async def load_account(
    client: Client, pool: AsyncConnectionPool, account_id: str
) -> tuple[AccountHistory, list[LogRow]]:
    """Rows first, then every collection they or Temporal name (so none is left out)."""
    rows = await fetch_rows(pool, [account_id])
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT collection_id FROM collections WHERE account_id = %s ORDER BY opened_at",
            (account_id,),
        )
        known = [row[0] for row in await cur.fetchall()]
    known += [row.collection_id for row in rows]
    account = await fetch_account_history(client, account_id, collection_ids=dict.fromkeys(known))
    return account, rows


class NoCollectionError(LookupError):
    """Neither Temporal nor the log knows the account."""


async def verify_account(
    client: Client,
    pool: AsyncConnectionPool,
    account_id: str,
    *,
    replay: ReplayService | None = None,
) -> VerificationReport:
    account, rows = await load_account(client, pool, account_id)
    if not account.collections and not rows:
        raise NoCollectionError(f"la cuenta {account_id!r} no tiene cobranzas ni registro")
    index = PiiIndex(await fetch_debtors(pool, [account_id]))
    return await evaluate(account, rows, pii_index=index, replay=replay)


class CampaignVerification(BaseModel):
    campaign_id: str
    accounts: int
    passed_accounts: int
    failures: list[VerificationReport]
    errors: dict[str, str]

    @property
    def passed(self) -> bool:
        return self.accounts > 0 and not self.failures and not self.errors


async def campaign_accounts(pool: AsyncConnectionPool, campaign_id: str) -> list[str]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT account_id FROM campaign_accounts
               WHERE campaign_id = %s AND skipped_reason IS NULL
               UNION
               SELECT account_id FROM collections WHERE campaign_id = %s
               ORDER BY account_id""",
            (campaign_id, campaign_id),
        )
        return [row[0] for row in await cur.fetchall()]


async def verify_campaign(
    client: Client,
    pool: AsyncConnectionPool,
    campaign_id: str,
    *,
    concurrency: int = 8,
    on_total: Callable[[int], None] | None = None,
    on_done: Callable[[VerificationReport | None], None] | None = None,
) -> CampaignVerification:
    """Verify every account of a campaign, a bounded number at a time."""
    accounts = await campaign_accounts(pool, campaign_id)
    if on_total is not None:
        on_total(len(accounts))
    gate = asyncio.Semaphore(concurrency)
    failures: list[VerificationReport] = []
    errors: dict[str, str] = {}
    passed = 0

    async def one(account_id: str, replay: ReplayService) -> None:
        nonlocal passed
        report: VerificationReport | None = None
        async with gate:
            try:
                report = await verify_account(client, pool, account_id, replay=replay)
            except NoCollectionError as err:
                errors[account_id] = str(err)
        if report is not None:
            if report.passed:
                passed += 1
            else:
                failures.append(report)
        if on_done is not None:
            on_done(report)

    async with ReplayService() as replay:
        await asyncio.gather(*(one(a, replay) for a in accounts))
    failures.sort(key=lambda r: r.account_id)
    return CampaignVerification(
        campaign_id=campaign_id,
        accounts=len(accounts),
        passed_accounts=passed,
        failures=failures,
        errors=dict(sorted(errors.items())),
    )
