"""One account as an auditor reads it: its merged timeline and, on request, the four checks.
The CLI (`cobranza audit ACCOUNT`) and the web console both come here."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client

from cobranza.audit.history import AccountHistory
from cobranza.audit.pii import PiiIndex, fetch_debtors
from cobranza.audit.timeline import TimelineEntry, account_timeline
from cobranza.audit.verify import (
    NoCollectionError,
    VerificationReport,
    account_steps,
    evaluate,
    load_account,
)


@dataclass
class AccountAudit:
    account: AccountHistory
    timeline: list[TimelineEntry]
    report: VerificationReport | None


async def audit_account(
    client: Client, pool: AsyncConnectionPool, account_id: str, *, verify: bool
) -> AccountAudit:
    """Raises NoCollectionError when neither Temporal nor the log knows the account."""
    account, rows = await load_account(client, pool, account_id)
    if not account.collections and not rows:
        raise NoCollectionError(f"la cuenta {account_id!r} no tiene cobranzas ni registro")
    steps, _ = await account_steps(account)
    timeline = await account_timeline(account, steps, rows)
    report = None
    if verify:
        index = PiiIndex(await fetch_debtors(pool, [account_id]))
        report = await evaluate(account, rows, pii_index=index)
    return AccountAudit(account=account, timeline=timeline, report=report)
