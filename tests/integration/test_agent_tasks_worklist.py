"""The worklist in Postgres and the agent's front door: claims under contention, release and
reassignment, and completions refused with a specific Spanish message that change nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from activities.channels import SimulatedProvider, SimulatedProviderConfig
from activities.tasks import apply_task_change
from cobranza.domain import BOGOTA, Stage, TaskKind, TaskOutcome
from cobranza.models import Installment, LogEntry, TaskChange, TaskCompletion
from cobranza.tasks import (
    TaskError,
    TaskRow,
    claim_task,
    complete_task,
    list_tasks,
    reassign_task,
    release_task,
)
from starter import app
from tests.integration.support import make_row, running_worker, seed_accounts
from tests.integration.test_agent_tasks_support import (
    AGENT,
    OTHER_AGENT,
    SUPERVISOR,
    ensure_agents,
    kinds_of,
    pending_task,
    start_account,
    task_row,
    task_strategy,
)
from workflows.collection import CollectionWorkflow

pytestmark = pytest.mark.integration

SILENT = SimulatedProvider(SimulatedProviderConfig(reply_rate=0.0, failure_rate=0.0))


@pytest.fixture(autouse=True)
async def _agents(pool: AsyncConnectionPool) -> None:
    await ensure_agents(pool)


async def _insert_tasks(
    pool: AsyncConnectionPool, account_id: str, count: int, *, score: int = 1000
) -> list[str]:
    """Task rows as the task step activity writes them (no workflow needed for the worklist)."""
    now = datetime.now(UTC)
    ids = [f"T-{uuid.uuid4().hex[:16]}" for _ in range(count)]
    async with pool.connection() as conn, conn.transaction():
        for seq, task_id in enumerate(ids, start=1):
            entry = LogEntry(
                account_id=account_id,
                workflow_id=f"collection-{account_id}",
                run_id="run",
                collection_id=f"col-{account_id}",
                seq=seq,
                kind="task_opened",
                stage=Stage.PREVENTIVA,
                detail={},
                occurred_at=now,
                campaign_id=None,
                strategy="test",
                balance_cop=1,
                original_balance_cop=1,
            )
            await apply_task_change(
                conn,
                entry,
                TaskChange(
                    action="open",
                    task_id=task_id,
                    kind=TaskKind.CALL,
                    team="preventiva",
                    step_id="call",
                    origin="step",
                    score=score + seq,
                    due_at=now + timedelta(hours=seq),
                ),
            )
    return ids


async def test_two_agents_claiming_at_once_exactly_one_wins_100_times(
    pool: AsyncConnectionPool,
) -> None:
    row = make_row()
    await seed_accounts(pool, [row])
    ids = await _insert_tasks(pool, row.account_id, 100)
    wins = {AGENT: 0, OTHER_AGENT: 0}
    for task_id in ids:
        results = await asyncio.gather(
            claim_task(pool, task_id, AGENT),
            claim_task(pool, task_id, OTHER_AGENT),
            return_exceptions=True,
        )
        won = [r for r in results if isinstance(r, TaskRow)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1 and len(lost) == 1, results
        assert isinstance(lost[0], TaskError) and "ya la tomó otro gestor" in str(lost[0])
        winner = won[0].assigned_to
        assert winner in wins
        wins[winner] += 1
        stored = await task_row(pool, task_id)
        assert stored["status"] == "claimed" and stored["assigned_to"] == winner
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT count(*), count(DISTINCT task_id) FROM agent_task_events
               WHERE task_id = ANY(%s) AND event = 'claimed'""",
            (ids,),
        )
        assert await cur.fetchone() == (100, 100)
    assert sum(wins.values()) == 100


async def test_worklist_order_release_and_supervisor_reassignment(
    pool: AsyncConnectionPool,
) -> None:
    row = make_row()
    await seed_accounts(pool, [row])
    low, high = await _insert_tasks(pool, row.account_id, 2)
    # The higher score comes first for the team.
    mine = [t.task_id for t in await list_tasks(pool, agent_id=AGENT) if t.task_id in (low, high)]
    assert mine == [high, low]
    await claim_task(pool, high, AGENT)
    with pytest.raises(TaskError, match="otro gestor"):
        await release_task(pool, high, OTHER_AGENT)
    with pytest.raises(TaskError, match="no es supervisor"):
        await reassign_task(pool, high, OTHER_AGENT, AGENT)
    with pytest.raises(TaskError, match="no está registrado"):
        await claim_task(pool, low, "nadie")
    released = await release_task(pool, high, AGENT)
    assert released.status == "open" and released.assigned_to is None
    moved = await reassign_task(pool, high, OTHER_AGENT, SUPERVISOR)
    assert moved.status == "claimed" and moved.assigned_to == OTHER_AGENT
    held_by_other = await list_tasks(pool, agent_id=OTHER_AGENT)
    assert high in [t.task_id for t in held_by_other]
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event, agent_id, by_agent FROM agent_task_events WHERE task_id = %s ORDER BY id",
            (high,),
        )
        assert await cur.fetchall() == [
            ("claimed", AGENT, AGENT),
            ("released", None, AGENT),
            ("reassigned", OTHER_AGENT, SUPERVISOR),
        ]


async def _notes(pool: AsyncConnectionPool, task_id: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM task_notes WHERE task_id = %s", (task_id,))
        found = await cur.fetchone()
    assert found is not None
    return int(found[0])


async def test_every_invalid_completion_is_refused_in_spanish_and_changes_nothing(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(
            ts_env, pool, task_queue, task_strategy(), balance_cop=800_000
        )
        task = await pending_task(pool, row.account_id)
        await claim_task(pool, task.task_id, AGENT)
        view = await handle.query(CollectionWorkflow.task_view)
        now = view.now
        before_log = await kinds_of(pool, row.account_id)
        before_row = await task_row(pool, task.task_id)

        def done(outcome: TaskOutcome, **fields: Any) -> TaskCompletion:
            base: dict[str, Any] = {"task_id": task.task_id, "agent_id": AGENT}
            return TaskCompletion(**{**base, "outcome": outcome, **fields})

        sunday = (
            (now + timedelta(days=(6 - now.astimezone(BOGOTA).weekday()) % 7 + 7))
            .astimezone(BOGOTA)
            .replace(hour=10, minute=0)
        )
        cases: list[tuple[TaskCompletion, str]] = [
            (
                done(TaskOutcome.NO_ANSWER).model_copy(update={"task_id": "T-ffffffffffffffff"}),
                "la tarea 'T-ffffffffffffffff' no existe",
            ),
            (
                done(TaskOutcome.NO_ANSWER).model_copy(update={"agent_id": OTHER_AGENT}),
                f"asignada a otro gestor ({AGENT})",
            ),
            (
                done(
                    TaskOutcome.PROMISE_TO_PAY,
                    amount_cop=100_000,
                    due_at=now - timedelta(days=1),
                ),
                "la fecha de pago prometida",
            ),
            (
                done(
                    TaskOutcome.PROMISE_TO_PAY,
                    amount_cop=900_000,
                    due_at=now + timedelta(days=3),
                ),
                "el monto prometido ($ 900.000) supera el saldo de la cuenta ($ 800.000)",
            ),
            (
                done(
                    TaskOutcome.PAYMENT_AGREEMENT,
                    amount_cop=800_000,
                    installments=[
                        Installment(due_at=now + timedelta(days=10), amount_cop=300_000),
                        Installment(due_at=now + timedelta(days=40), amount_cop=300_000),
                    ],
                ),
                "las cuotas suman $ 600.000 y el total acordado es $ 800.000",
            ),
            (done(TaskOutcome.CALL_BACK, call_back_at=sunday), "no se contacta los domingos"),
            (
                done(TaskOutcome.PAYMENT_CONFIRMED, amount_cop=1, reference="X"),
                "no aplica a una tarea de llamada",
            ),
            (
                done(TaskOutcome.PROMISE_TO_PAY, due_at=now + timedelta(days=2)),
                "falta el monto (--amount)",
            ),
        ]
        for completion, message in cases:
            with pytest.raises(TaskError) as refused:
                await complete_task(ts_env.client, pool, completion, note="Llamar a la hija")
            assert message in str(refused.value), (message, str(refused.value))
        # Not claimed any more: refused before anything is sent.
        await release_task(pool, task.task_id, AGENT)
        with pytest.raises(TaskError, match="no está tomada: tómela primero"):
            await complete_task(ts_env.client, pool, done(TaskOutcome.NO_ANSWER))
        after_log = await kinds_of(pool, row.account_id)
        after_row = await task_row(pool, task.task_id)
        status = await handle.query(CollectionWorkflow.status)
        await handle.signal(CollectionWorkflow.cancel, _cancel_request())
        await handle.result()
    assert after_log == before_log
    assert await _notes(pool, task.task_id) == 0
    assert (
        after_row["outcome"] is None and after_row["reassignments"] == before_row["reassignments"]
    )
    assert status.open_promise is None and status.balance_cop == 800_000


def _cancel_request() -> Any:
    from cobranza.models import ControlRequest

    return ControlRequest(reason="fin de prueba")


def _flat(text: str) -> str:
    return " ".join(text.split())


async def test_agent_cli_walkthrough(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str, database_url: str
) -> None:
    runner = CliRunner()
    env = {
        "TEMPORAL_ADDRESS": ts_env.client.service_client.config.target_host,
        "DATABASE_URL": database_url,
        "COLUMNS": "200",
    }

    async def cli(*args: str) -> Any:
        return await asyncio.to_thread(runner.invoke, app, list(args), env=env)

    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(
            ts_env, pool, task_queue, task_strategy(), balance_cop=1_200_000
        )
        task = await pending_task(pool, row.account_id)
        added = await cli(
            "agent", "add", "gestor-cli", "--name", "Pilar Rojas", "--team", "preventiva"
        )
        assert added.exit_code == 0, added.output
        listed = await cli("task", "list", "--agent", "gestor-cli", "--json")
        assert listed.exit_code == 0, listed.output
        mine = next(t for t in json.loads(listed.stdout) if t["task_id"] == task.task_id)
        assert {k: mine[k] for k in ("account_id", "kind", "status", "assigned_to")} == {
            "account_id": row.account_id,
            "kind": "call",
            "status": "open",
            "assigned_to": None,
        }
        assert datetime.fromisoformat(mine["due_at"]) == task.due_at
        claimed = await cli("task", "claim", task.task_id, "--agent", "gestor-cli")
        assert claimed.exit_code == 0, claimed.output
        view = await handle.query(CollectionWorkflow.task_view)
        due = (view.now + timedelta(days=5)).astimezone(BOGOTA).date().isoformat()
        over = await cli(
            "task", "complete", task.task_id, "--agent", "gestor-cli",
            "--outcome", "promise_to_pay", "--amount", "2.000.000", "--due", due,
        )  # fmt: skip
        assert over.exit_code == 1
        assert "supera el saldo de la cuenta ($ 1.200.000)" in _flat(over.stderr)
        bad_amount = await cli(
            "task", "complete", task.task_id, "--agent", "gestor-cli",
            "--outcome", "promise_to_pay", "--amount", "1,234,567", "--due", due,
        )  # fmt: skip
        assert bad_amount.exit_code == 2 and "--amount" in _flat(bad_amount.stderr)
        unknown = await cli(
            "task", "complete", task.task_id, "--agent", "gestor-cli", "--outcome", "pago"
        )
        assert unknown.exit_code == 2 and "resultado desconocido" in _flat(unknown.stderr)
        ok = await cli(
            "task", "complete", task.task_id, "--agent", "gestor-cli",
            "--outcome", "promise_to_pay", "--amount", "500.000", "--due", due,
            "--note", "Paga con la prima de diciembre",
        )  # fmt: skip
        assert ok.exit_code == 0, ok.output
        assert "completada" in _flat(ok.stdout)
        await handle.signal(CollectionWorkflow.cancel, _cancel_request())
        await handle.result()
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT note_id, body FROM task_notes WHERE task_id = %s", (task.task_id,)
        )
        notes = await cur.fetchall()
        cur = await conn.execute(
            """SELECT detail FROM collection_log WHERE account_id = %s AND kind = 'task_completed'""",
            (row.account_id,),
        )
        logged = await cur.fetchall()
    assert [body for _, body in notes] == ["Paga con la prima de diciembre"]
    [(detail,)] = logged
    # The note's text stays in Postgres: the workflow only carries its id.
    assert detail["note_id"] == notes[0][0] and "prima" not in json.dumps(detail)
