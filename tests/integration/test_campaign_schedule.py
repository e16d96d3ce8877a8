"""Scheduled campaigns: a Temporal Schedule imports and starts each new file dropped in a folder."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from cobranza.campaign_models import InboxResult
from cobranza.campaigns import derive_campaign_id, get_campaign
from cobranza.portfolio import file_sha256
from tests.integration.support import campaign_rows, running_worker
from tests.integration.test_campaign_cli import cli, cli_env, row_cells, write_portfolio

pytestmark = pytest.mark.integration
__all__ = ["cli_env"]  # the fixture, imported for this module's tests


async def latest_pass(client: Client, schedule_id: str, passes: int) -> InboxResult:
    """The result of the schedule's ``passes``-th run, once it has finished."""
    handle = client.get_schedule_handle(schedule_id)
    deadline = time.monotonic() + 60
    while True:
        actions = (await handle.describe()).info.recent_actions
        if len(actions) >= passes:
            break
        assert time.monotonic() < deadline, "the schedule did not run"
        await asyncio.sleep(0.2)
    started = actions[passes - 1].action
    assert isinstance(started, ScheduleActionExecutionStartWorkflow)
    run = client.get_workflow_handle(
        started.workflow_id, run_id=started.first_execution_run_id, result_type=InboxResult
    )
    return await run.result()


async def test_schedule_imports_each_new_file_once(
    dev_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    task_queue: str,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    client = dev_env.client
    tag = uuid.uuid4().hex[:6]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = write_portfolio(inbox / "cartera-dic.csv", campaign_rows(5, f"inb-{tag}"), {})
    bad_rows = campaign_rows(3, f"inbad-{tag}")
    broken = row_cells(bad_rows[1])
    broken[6] = "-3"
    bad = write_portfolio(inbox / "cartera-mala.csv", bad_rows, {1: broken})
    good_id = derive_campaign_id(good.name, file_sha256(good))
    name = f"inbox-{tag}"
    schedule_id = f"campaign-inbox-{name}"

    async with running_worker(client, pool, task_queue):
        created = await cli(
            cli_env,
            "campaign",
            "schedule",
            "--every",
            "1d",
            "--dir",
            str(inbox),
            "--id",
            name,
            "--now",
        )
        assert created.exit_code == 0, created.output
        assert schedule_id in created.output
        first = await latest_pass(client, schedule_id, 1)
        outcome = {f.file_name: f for f in first.files}
        assert outcome[good.name].status == "imported" and outcome[good.name].accounts == 5
        assert outcome[good.name].campaign_id == good_id
        assert outcome[bad.name].status == "rejected"
        report = (inbox / "cartera-mala.csv.rechazos.csv").read_text(encoding="utf-8")
        assert report.count("\n") == 2 and "dias_mora" in report
        deadline = time.monotonic() + 60
        while (row := await get_campaign(pool, good_id)) is None or row.accounts_started < 5:
            assert time.monotonic() < deadline, "the scheduled campaign did not start"
            await asyncio.sleep(0.2)
        assert row.source == f"schedule:{schedule_id}"

        # The same bytes under another name, and the rejected file again: nothing new.
        shutil.copy(good, inbox / "cartera-dic-copia.csv")
        await client.get_schedule_handle(schedule_id).trigger()
        second = await latest_pass(client, schedule_id, 2)
        assert second.files == []
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM campaigns WHERE source = %s", (f"schedule:{schedule_id}",)
            )
            assert await cur.fetchone() == (1,)

        deadline = time.monotonic() + 30
        while True:
            listed = await cli(cli_env, "campaign", "schedule", "list")
            assert listed.exit_code == 0, listed.output
            if schedule_id in listed.output:
                break
            assert time.monotonic() < deadline, listed.output
            await asyncio.sleep(0.3)
        deleted = await cli(cli_env, "campaign", "schedule", "delete", name)
        assert deleted.exit_code == 0, deleted.output
        with pytest.raises(RPCError) as gone:
            await client.get_schedule_handle(schedule_id).describe()
        assert gone.value.status == RPCStatusCode.NOT_FOUND
        missing = await cli(cli_env, "campaign", "schedule", "delete", name)
        assert missing.exit_code == 1 and "no existe" in missing.output
