"""No debtor's personal data reaches Temporal: not in histories, search attributes or memos.

A slice of the demo portfolio runs the demo strategy (its durations halved) on the dev server with the simulated provider
(deliveries, failures, replies and promises), then every history and every visibility record is
searched for every debtor's name, document number, phone (E.164 and national) and email.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from cobranza.audit.history import fetch_account_history, fetch_latest_chain
from cobranza.audit.pii import PiiIndex, fetch_debtors, scan_runs
from cobranza.campaign_models import campaign_workflow_id
from cobranza.campaigns import import_campaign, start_campaign
from cobranza.compliance import ContactRequest, ContactRules, decide_contact, load_contact_rules
from cobranza.domain import Channel
from cobranza.portfolio import DEMO_PORTFOLIO, file_sha256, read_portfolio
from cobranza.strategy import Strategy, load_strategy
from tests.integration.support import running_worker

pytestmark = pytest.mark.integration

ACCOUNTS = 24
DEADLINE_S = 90


async def _open_collections(pool: AsyncConnectionPool, campaign_id: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT count(*) FILTER (WHERE c.outcome IS NULL) + count(*) FILTER (
                          WHERE c.collection_id IS NULL)
               FROM campaign_accounts ca
               LEFT JOIN collections c ON c.account_id = ca.account_id
                    AND c.campaign_id = ca.campaign_id
               WHERE ca.campaign_id = %s""",
            (campaign_id,),
        )
        found = await cur.fetchone()
        assert found is not None
        return int(found[0])


async def _accounts_waiting(pool: AsyncConnectionPool, campaign_id: str) -> int:
    """Accounts of the campaign whose first contact was deferred (closed legal window)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT count(DISTINCT l.account_id) FROM collection_log l
               JOIN collections c USING (collection_id)
               WHERE c.campaign_id = %s AND l.kind = 'contact_deferred'""",
            (campaign_id,),
        )
        found = await cur.fetchone()
        assert found is not None
        return int(found[0])


def _twice_as_fast(strategy: Strategy) -> Strategy:
    """The demo strategy with every duration halved, so the test stays well under a minute."""

    def halve(value: Any) -> Any:
        if isinstance(value, timedelta):
            return timedelta(seconds=max(1, int(value.total_seconds()) // 2))
        if isinstance(value, dict):
            return {key: halve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [halve(item) for item in value]
        return value

    return Strategy.model_validate(halve(strategy.model_dump()))


def _contact_window_closes_soon(rules: ContactRules) -> str | None:
    """On the dev server contacts wait for the legal window in real time (Ley 2300, Art. 3)."""
    now = datetime.now(UTC)
    for at in (now, now + timedelta(seconds=DEADLINE_S + 30)):
        decision = decide_contact(
            ContactRequest(at=at, channel=Channel.SMS, authorized_channels=frozenset(Channel)),
            [],
            rules,
        )
        if decision.verdict != "allow":
            return decision.reason
    return None


async def test_demo_campaign_leaves_no_pii_in_temporal(
    dev_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    strategy = _twice_as_fast(load_strategy("demo"))
    # Outside the legal window (Ley 2300, Art. 3) every first contact waits in real time: then the
    # histories scanned are those of accounts opened and waiting, which still carry every input,
    # search attribute and deferral, but no sends.
    window_closed = (
        _contact_window_closes_soon(load_contact_rules(strategy.contact_rules_version)) is not None
    )
    tag = uuid.uuid4().hex[:6]
    portfolio = read_portfolio(DEMO_PORTFOLIO)
    # Fresh account ids (the debtors and their data stay those of the demo file).
    rows = [
        r.model_copy(update={"account_id": f"NOPII-{tag}-{i:03d}"})
        for i, r in enumerate(portfolio.rows[:ACCOUNTS])
    ]
    campaign_id = f"nopii-{tag}"
    await import_campaign(
        pool,
        campaign_id=campaign_id,
        strategy=strategy.name,
        file_name=DEMO_PORTFOLIO.name,
        file_sha256=file_sha256(DEMO_PORTFOLIO),
        rows=rows,
    )
    async with running_worker(dev_env.client, pool, task_queue):
        await start_campaign(
            dev_env.client, pool, campaign_id=campaign_id, strategy=strategy, task_queue=task_queue
        )
        deadline = time.monotonic() + DEADLINE_S
        if window_closed:
            while await _accounts_waiting(pool, campaign_id) < ACCOUNTS:
                assert time.monotonic() < deadline, "las cobranzas no llegaron a diferirse"
                await asyncio.sleep(0.5)
        else:
            while (remaining := await _open_collections(pool, campaign_id)) > 0:
                assert time.monotonic() < deadline, f"{remaining} cobranzas siguen abiertas"
                await asyncio.sleep(0.5)

    account_ids = [r.account_id for r in rows]
    debtors = await fetch_debtors(pool, account_ids)
    assert len(debtors) == ACCOUNTS
    index = PiiIndex(debtors)
    # The scanner itself must see each debtor's data in every form it is written.
    emails = 0
    for debtor in debtors:
        forms = [
            (f"Sr(a). {debtor.full_name.upper()}", "name"),
            (f"doc {debtor.document_number}.", "document"),
        ]
        if debtor.phone:
            national = debtor.phone.removeprefix("+57")
            forms += [
                (f"tel {debtor.phone}", "phone"),
                (f"cel {national[:3]} {national[3:]}", "phone"),
            ]
        if debtor.email:
            emails += 1
            forms.append((f"<{debtor.email.upper()}>", "email"))
        for text, field in forms:
            assert (debtor.debtor_id, field) in index.scan_text(text), field
    assert emails > ACCOUNTS // 2

    histories = await asyncio.gather(
        *(fetch_account_history(dev_env.client, a) for a in account_ids)
    )
    runs = [run for account in histories for run in account.runs]
    assert len(runs) >= ACCOUNTS
    # The campaign's own workflow saw every account too.
    campaign_runs = await fetch_latest_chain(dev_env.client, campaign_workflow_id(campaign_id))
    assert campaign_runs
    # Visibility saw every run (its search attributes are part of the scan).
    assert all(run.search_attributes for run in runs)
    kinds = {
        event.get("activityType", {}).get("name")
        for run in runs
        for event in (
            e.get("activityTaskScheduledEventAttributes", {})
            for e in run.history.to_json_dict()["events"]
        )
    }
    assert "record_step" in kinds
    if not window_closed:
        assert "send_contact" in kinds
    findings = scan_runs([*runs, *campaign_runs], index)
    assert findings == [], [f.describe() for f in findings]
