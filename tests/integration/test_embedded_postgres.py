"""One account end to end on the embedded Postgres (the default when DATABASE_URL is unset)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from cobranza.db import apply_migrations, embedded_postgres, open_pool
from cobranza.domain import Outcome
from cobranza.hashchain import verify_chain
from cobranza.models import PaymentReceived
from tests.integration.support import (
    log_rows,
    make_row,
    running_worker,
    seed_accounts,
    start_collection,
)
from workflows.collection import CollectionWorkflow

pytestmark = pytest.mark.integration


async def test_one_account_end_to_end_on_embedded_postgres(
    ts_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    with embedded_postgres(tmp_path / "pg") as url:
        assert "host=" in url  # a socket of our own server, not DATABASE_URL's
        apply_migrations(url)
        assert apply_migrations(url) == []  # idempotent at every worker start
        async with open_pool(url, max_size=4) as pool:
            row = make_row(balance_cop=640_000)
            await seed_accounts(pool, [row])
            async with running_worker(ts_env.client, pool, task_queue):
                handle = await start_collection(ts_env.client, row, task_queue)
                await ts_env.sleep(timedelta(days=5))
                now = await ts_env.get_current_time()
                await handle.signal(
                    CollectionWorkflow.payment_received,
                    PaymentReceived(amount_cop=640_000, reference="EMB-1", paid_at=now),
                )
                result = await handle.result()
            rows = await log_rows(pool, row.account_id)
    assert result.outcome == Outcome.PAID
    assert rows[0]["kind"] == "opened" and rows[-1]["kind"] == "closed"
    assert verify_chain(rows) == []
