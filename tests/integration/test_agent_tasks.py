"""Human tasks on the time-skipping server: every outcome code's effect on the collection, SLA
expiry, payment agreements, holds, and stale or duplicated completions.

Each test runs one account whose strategy opens a call task first (tests/integration/
test_agent_tasks_support.py); agents claim and complete through cobranza.tasks, the CLI's path.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment

from activities.channels import SimulatedProvider, SimulatedProviderConfig
from cobranza.compliance.calendar import next_window_start
from cobranza.domain import Outcome, Stage, TaskKind, TaskOutcome
from cobranza.models import (
    ControlRequest,
    DisputeNotice,
    DisputeResolution,
    Installment,
    PaymentReceived,
    PromiseToPay,
    TaskCompletion,
)
from cobranza.tasks import TaskError, claim_task
from tests.integration.support import running_worker
from tests.integration.test_agent_tasks_support import (
    AGENT,
    SUPERVISOR,
    advance,
    ensure_agents,
    eventually,
    has_kind,
    kinds_of,
    log,
    pending_task,
    skip_until,
    start_account,
    status_of,
    task_row,
    task_strategy,
    work,
)
from workflows.collection import CollectionWorkflow

pytestmark = pytest.mark.integration

SILENT = SimulatedProvider(SimulatedProviderConfig(reply_rate=0.0, failure_rate=0.0))
ACCEPTED = "accepted"


@pytest.fixture(autouse=True)
async def _agents(pool: AsyncConnectionPool) -> None:
    await ensure_agents(pool)


def pay(amount: int, reference: str, at: object) -> PaymentReceived:
    return PaymentReceived(amount_cop=amount, reference=reference, paid_at=at)


async def cancel(handle: object) -> None:
    await handle.signal(CollectionWorkflow.cancel, ControlRequest(reason="fin de prueba"))  # type: ignore[attr-defined]
    await handle.result()  # type: ignore[attr-defined]


async def test_promise_to_pay_registers_the_promise_like_the_promise_path(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(ts_env, pool, task_queue, task_strategy())
        task = await pending_task(pool, row.account_id)
        assert task.kind == TaskKind.CALL and task.team == "preventiva" and task.status == "open"
        due = await ts_env.get_current_time() + timedelta(days=5)
        receipt = await work(
            ts_env, pool, task, TaskOutcome.PROMISE_TO_PAY, amount_cop=400_000, due_at=due
        )
        assert receipt.status == ACCEPTED
        await eventually(lambda: has_kind(pool, row.account_id, "promise_registered"))
        status = await status_of(handle)
        assert status.open_promise is not None and status.open_promise.amount_cop == 400_000
        assert status.open_promise.source == "agent"
        await handle.signal(
            CollectionWorkflow.payment_received,
            pay(400_000, "P-AG-1", await ts_env.get_current_time()),
        )
        await eventually(lambda: has_kind(pool, row.account_id, "promise_kept"))
        await cancel(handle)
    rows = await log(pool, row.account_id)
    kinds = [r["kind"] for r in rows]
    assert kinds[:4] == ["opened", "task_opened", "task_completed", "promise_registered"]
    completed = rows[2]["detail"]
    assert completed["outcome"] == "promise_to_pay" and completed["agent_id"] == AGENT
    assert completed["effect"] == "promise_registered" and completed["amount_cop"] == 400_000
    stored = await task_row(pool, task.task_id)
    assert stored["status"] == "completed" and stored["outcome"] == "promise_to_pay"
    assert stored["completed_by"] == AGENT and stored["assigned_to"] is None


@pytest.mark.parametrize(
    ("total", "expected"), [(900_000, Outcome.SETTLED), (1_000_000, Outcome.PAID)]
)
async def test_payment_agreement_kept_to_the_end(
    ts_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    task_queue: str,
    total: int,
    expected: Outcome,
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(ts_env, pool, task_queue, task_strategy())
        task = await pending_task(pool, row.account_id)
        now = await ts_env.get_current_time()
        share = total // 3
        amounts = [share, share, total - 2 * share]
        plan = [
            Installment(due_at=now + timedelta(days=10 + 30 * n), amount_cop=a)
            for n, a in enumerate(amounts)
        ]
        receipt = await work(
            ts_env,
            pool,
            task,
            TaskOutcome.PAYMENT_AGREEMENT,
            amount_cop=total,
            installments=plan,
        )
        assert receipt.status == ACCEPTED
        for number, installment in enumerate(plan, start=1):
            await eventually(
                lambda n=number: _installment_open(pool, row.account_id, n)  # type: ignore[misc]
            )
            # Pay a day before each installment falls due.
            await ts_env.sleep(
                installment.due_at - await ts_env.get_current_time() - timedelta(days=1)
            )
            await handle.signal(
                CollectionWorkflow.payment_received,
                pay(installment.amount_cop, f"AG-{number}", await ts_env.get_current_time()),
            )
        result = await handle.result()
    assert result.outcome == expected
    assert result.balance_cop == 1_000_000 - total
    rows = await log(pool, row.account_id)
    kinds = [r["kind"] for r in rows]
    assert kinds.count("promise_kept") == 3 and "agreement_broken" not in kinds
    assert "agreement_kept" in kinds
    # The account stayed with the agreement: no contact while it ran.
    start = kinds.index("agreement_registered")
    assert "contact" not in kinds[start:]
    if expected == Outcome.SETTLED:
        assert rows[-1]["detail"]["reason"] == "agreement_kept"


async def _installment_open(pool: AsyncConnectionPool, account_id: str, number: int) -> bool:
    return any(
        r["kind"] == "promise_registered" and r["detail"].get("installment") == number
        for r in await log(pool, account_id)
    )


async def test_payment_agreement_broken_at_the_second_installment_escalates(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(ts_env, pool, task_queue, task_strategy())
        task = await pending_task(pool, row.account_id)
        now = await ts_env.get_current_time()
        plan = [
            Installment(due_at=now + timedelta(days=5), amount_cop=300_000),
            Installment(due_at=now + timedelta(days=20), amount_cop=300_000),
            Installment(due_at=now + timedelta(days=35), amount_cop=400_000),
        ]
        await work(
            ts_env,
            pool,
            task,
            TaskOutcome.PAYMENT_AGREEMENT,
            amount_cop=1_000_000,
            installments=plan,
        )
        await eventually(lambda: _installment_open(pool, row.account_id, 1))
        await advance(ts_env, 3)
        await handle.signal(
            CollectionWorkflow.payment_received,
            pay(300_000, "AG-B-1", await ts_env.get_current_time()),
        )
        await eventually(lambda: _installment_open(pool, row.account_id, 2))
        # Second installment: due day 20, grace 2 days (the strategy's promise check); unpaid.
        await advance(ts_env, 20)
        status = await status_of(handle)
        await cancel(handle)
    assert status.stage == Stage.ADMINISTRATIVA and status.promises_broken == 1
    rows = await log(pool, row.account_id)
    kinds = [r["kind"] for r in rows]
    broken = kinds.index("agreement_broken")
    assert rows[broken]["detail"]["installment"] == 2
    assert kinds[broken + 1 : broken + 3] == ["promise_broken", "escalated"]
    assert rows[broken + 2]["detail"]["reason"] == "promise_broken"
    # The strategy's preventiva SMS was skipped: the account went straight to administrativa.
    assert "sms" not in [r["detail"].get("step") for r in rows]


@pytest.mark.parametrize("confirmed", [True, False])
async def test_already_paid_opens_a_payment_verification(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str, confirmed: bool
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(
            ts_env, pool, task_queue, task_strategy(), balance_cop=700_000
        )
        call = await pending_task(pool, row.account_id)
        await work(ts_env, pool, call, TaskOutcome.ALREADY_PAID)
        verify = await pending_task(pool, row.account_id, kind="verify_payment")
        assert verify.origin == "already_paid" and verify.team == "preventiva"
        if confirmed:
            await work(
                ts_env,
                pool,
                verify,
                TaskOutcome.PAYMENT_CONFIRMED,
                amount_cop=700_000,
                reference="BANCO-778",
            )
            result = await handle.result()
            assert result.outcome == Outcome.PAID
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT account_id, amount_cop, source FROM payments"
                    " WHERE payment_reference = 'BANCO-778'"
                )
                assert await cur.fetchone() == (row.account_id, 700_000, "agent_verification")
        else:
            await work(ts_env, pool, verify, TaskOutcome.PAYMENT_NOT_FOUND)
            await skip_until(ts_env, lambda: has_kind(pool, row.account_id, "contact"))
            await cancel(handle)
    kinds = await kinds_of(pool, row.account_id)
    assert kinds.count("task_completed") == 2
    if confirmed:
        assert kinds[-2:] == ["payment_received", "closed"]
    else:
        # Not found: the strategy went on to its SMS.
        assert "contact" in kinds[kinds.index("task_completed", 4) :]


@pytest.mark.parametrize("outcome", [TaskOutcome.NO_ANSWER, TaskOutcome.LEFT_MESSAGE])
async def test_no_answer_and_left_message_are_logged_and_the_strategy_goes_on(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str, outcome: TaskOutcome
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(ts_env, pool, task_queue, task_strategy())
        await work(ts_env, pool, await pending_task(pool, row.account_id), outcome)
        await skip_until(ts_env, lambda: has_kind(pool, row.account_id, "contact"))
        status = await status_of(handle)
        await cancel(handle)
    assert status.stage == Stage.PREVENTIVA
    rows = await log(pool, row.account_id)
    kinds = [r["kind"] for r in rows]
    done = kinds.index("task_completed")
    assert rows[done]["detail"]["effect"] == "strategy_continues"
    assert rows[done]["detail"]["outcome"] == outcome.value
    assert "contact" in kinds[done:] and "escalated" not in kinds


async def test_wrong_number_marks_the_phone_invalid_and_contacts_skip_it(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(ts_env, pool, task_queue, task_strategy())
        await work(ts_env, pool, await pending_task(pool, row.account_id), TaskOutcome.WRONG_NUMBER)
        # The next step is an SMS to that phone (it may wait for the legal window).
        await skip_until(ts_env, lambda: has_kind(pool, row.account_id, "contact_failed"))
        await cancel(handle)
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT i.value, i.reason FROM contact_points_invalid i
               JOIN accounts a USING (debtor_id) WHERE a.account_id = %s""",
            (row.account_id,),
        )
        assert await cur.fetchall() == [(row.phone, "wrong_number")]
        cur = await conn.execute(
            "SELECT channel, status, destination FROM contact_outbox WHERE account_id = %s",
            (row.account_id,),
        )
        assert await cur.fetchall() == [("sms", "no_destination", None)]
    failed = next(r for r in await log(pool, row.account_id) if r["kind"] == "contact_failed")
    assert failed["detail"]["status"] == "no_destination"


async def test_refuses_escalates_at_once(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(ts_env, pool, task_queue, task_strategy())
        await work(ts_env, pool, await pending_task(pool, row.account_id), TaskOutcome.REFUSES)
        await eventually(lambda: has_kind(pool, row.account_id, "escalated"))
        status = await status_of(handle)
        await cancel(handle)
    assert status.stage == Stage.ADMINISTRATIVA
    rows = await log(pool, row.account_id)
    escalated = next(r for r in rows if r["kind"] == "escalated")
    assert escalated["detail"]["reason"] == "debtor_refuses"
    assert "sms" not in [r["detail"].get("step") for r in rows]


@pytest.mark.parametrize("resolution", ["rejected", "upheld"])
async def test_dispute_holds_all_contact_until_resolved(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str, resolution: str
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(ts_env, pool, task_queue, task_strategy())
        await work(ts_env, pool, await pending_task(pool, row.account_id), TaskOutcome.DISPUTE)
        review = await pending_task(pool, row.account_id, kind="review_dispute")
        assert review.team == "supervision" and review.origin == "dispute"
        # Twenty days on hold: the review's 2-day SLA passes and it goes back to the queue.
        await advance(ts_env, 20)
        held_log = await kinds_of(pool, row.account_id)
        reopened = await task_row(pool, review.task_id)
        status = await status_of(handle)
        assert status.step_id == "sms" and status.outcome is None
        if resolution == "rejected":
            await work(ts_env, pool, review, TaskOutcome.DISPUTE_REJECTED, agent=SUPERVISOR)
            await skip_until(ts_env, lambda: has_kind(pool, row.account_id, "contact"))
            await cancel(handle)
        else:
            await work(ts_env, pool, review, TaskOutcome.DISPUTE_UPHELD, agent=SUPERVISOR)
            result = await handle.result()
            assert result.outcome == Outcome.CANCELLED
    hold = held_log.index("hold_started")
    assert "contact" not in held_log and "wait" not in held_log
    assert held_log[hold + 1] == "task_opened"
    assert held_log.count("task_sla_expired") >= 5
    assert reopened["status"] == "open" and reopened["reassignments"] >= 5
    rows = await log(pool, row.account_id)
    kinds = [r["kind"] for r in rows]
    released = kinds.index("hold_released")
    assert rows[released]["detail"]["resolution"] == f"dispute_{resolution}"
    if resolution == "rejected":
        assert "contact" in kinds[released:]
    else:
        assert "contact" not in kinds
        assert rows[-1]["kind"] == "closed" and rows[-1]["detail"]["reason"] == "dispute_upheld"


async def test_dispute_by_signal_interrupts_a_wait_and_a_signal_resolves_it(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(ts_env, pool, task_queue, task_strategy())
        await work(ts_env, pool, await pending_task(pool, row.account_id), TaskOutcome.NO_ANSWER)
        await skip_until(ts_env, lambda: has_kind(pool, row.account_id, "wait"))
        await handle.signal(
            CollectionWorkflow.dispute_opened,
            DisputeNotice(opened_by="sac", case_reference="PQR-2026-991"),
        )
        review = await pending_task(pool, row.account_id, kind="review_dispute")
        await advance(ts_env, 10)
        before = await kinds_of(pool, row.account_id)
        await handle.signal(
            CollectionWorkflow.dispute_resolved,
            DisputeResolution(resolution="rejected", resolved_by="juridica"),
        )
        await eventually(lambda: has_kind(pool, row.account_id, "hold_released"))
        # The wait resumes where it stopped, then the strategy goes on.
        await advance(ts_env, 6)
        status = await status_of(handle)
        await cancel(handle)
    hold = before.index("hold_started")
    assert before[hold + 1] == "task_opened"
    assert not {"contact", "promise_check", "wait"} & set(before[hold:])
    assert (await task_row(pool, review.task_id))["close_reason"] == "resolved_by_signal"
    assert status.step_index > 3  # past wait-1


@pytest.mark.parametrize(
    ("reported", "decision", "expected"),
    [
        (TaskOutcome.DECEASED, TaskOutcome.CLOSE_COLLECTION, Outcome.CANCELLED),
        (TaskOutcome.BANKRUPT, TaskOutcome.HAND_TO_LEGAL, Outcome.HANDED_TO_LEGAL),
        (TaskOutcome.DECEASED, TaskOutcome.RESUME_COLLECTION, None),
    ],
)
async def test_deceased_and_bankrupt_stop_collection_for_a_supervisor(
    ts_env: WorkflowEnvironment,
    pool: AsyncConnectionPool,
    task_queue: str,
    reported: TaskOutcome,
    decision: TaskOutcome,
    expected: Outcome | None,
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(ts_env, pool, task_queue, task_strategy())
        await work(ts_env, pool, await pending_task(pool, row.account_id), reported)
        review = await pending_task(pool, row.account_id, kind="supervisor_review")
        assert review.team == "supervision" and review.origin == reported.value
        await advance(ts_env, 1)
        assert not await has_kind(pool, row.account_id, "contact")
        await work(ts_env, pool, review, decision, agent=SUPERVISOR)
        if expected is None:
            await skip_until(ts_env, lambda: has_kind(pool, row.account_id, "contact"))
            await cancel(handle)
        else:
            result = await handle.result()
            assert result.outcome == expected
    rows = await log(pool, row.account_id)
    if expected is not None:
        assert rows[-1]["detail"]["reason"] == reported.value
        assert "contact" not in [r["kind"] for r in rows]


async def test_call_back_opens_a_call_at_that_time_within_legal_hours(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(ts_env, pool, task_queue, task_strategy())
        call = await pending_task(pool, row.account_id)
        view = await handle.query(CollectionWorkflow.task_view)
        at = next_window_start(view.now + timedelta(hours=2), view.contact_rules) + timedelta(
            hours=1
        )
        await work(ts_env, pool, call, TaskOutcome.CALL_BACK, call_back_at=at)
        again = await pending_task(pool, row.account_id, kind="call")
        assert again.task_id != call.task_id and again.origin == "call_back"
        assert again.not_before == at
        with pytest.raises(TaskError, match="disponible desde"):
            await claim_task(pool, again.task_id, AGENT, now=await ts_env.get_current_time())
        await ts_env.sleep(at - await ts_env.get_current_time() + timedelta(minutes=5))
        await work(ts_env, pool, again, TaskOutcome.NO_ANSWER)
        await skip_until(ts_env, lambda: has_kind(pool, row.account_id, "contact"))
        await cancel(handle)
    rows = await log(pool, row.account_id)
    opened = [r for r in rows if r["kind"] == "task_opened"]
    assert opened[1]["detail"]["parent_task_id"] == call.task_id
    assert opened[1]["detail"]["not_before"] == at.isoformat()
    assert "contact" in [r["kind"] for r in rows]


async def test_sla_expiry_reassigns_to_the_team_queue_then_expires(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    strategy = task_strategy(sla="1d", on_sla_expiry="reassign", max_reassignments=2)
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(ts_env, pool, task_queue, strategy)
        task = await pending_task(pool, row.account_id)
        await claim_task(pool, task.task_id, AGENT)
        await ts_env.sleep(timedelta(days=1, hours=1))
        after_first = await eventually(
            lambda: _row_if(pool, task.task_id, lambda r: r["reassignments"] == 1)
        )
        await ts_env.sleep(timedelta(days=2))
        final = await eventually(
            lambda: _row_if(pool, task.task_id, lambda r: r["status"] == "expired")
        )
        await skip_until(ts_env, lambda: has_kind(pool, row.account_id, "contact"))
        await cancel(handle)
    # Back to the queue, taken from the agent who let it lapse.
    assert after_first["status"] == "open" and after_first["assigned_to"] is None
    assert after_first["last_assigned_to"] == AGENT
    assert final["reassignments"] == 2 and final["close_reason"] == "sla_expired"
    rows = await log(pool, row.account_id)
    expiries = [r["detail"]["action"] for r in rows if r["kind"] == "task_sla_expired"]
    assert expiries == ["reassigned", "reassigned", "expired"]
    kinds = [r["kind"] for r in rows]
    assert "contact" in kinds[kinds.index("task_sla_expired") :]
    assert all(r["detail"]["reason"] == "strategy" for r in rows if r["kind"] == "escalated")


async def _row_if(
    pool: AsyncConnectionPool, task_id: str, check: object
) -> dict[str, object] | None:
    row = await task_row(pool, task_id)
    return row if check(row) else None  # type: ignore[operator]


async def test_sla_expiry_escalates_like_a_broken_promise(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    strategy = task_strategy(sla="2d", on_sla_expiry="escalate")
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(ts_env, pool, task_queue, strategy)
        task = await pending_task(pool, row.account_id)
        await advance(ts_env, 2.1)
        await eventually(lambda: has_kind(pool, row.account_id, "escalated"))
        status = await status_of(handle)
        await cancel(handle)
    assert status.stage == Stage.ADMINISTRATIVA
    rows = await log(pool, row.account_id)
    expired = next(r for r in rows if r["kind"] == "task_sla_expired")
    assert expired["detail"]["action"] == "escalated"
    assert expired["detail"]["escalates_to_step"] == "to-adm"
    escalated = next(r for r in rows if r["kind"] == "escalated")
    assert escalated["detail"]["reason"] == "task_sla_expired"
    assert (await task_row(pool, task.task_id))["status"] == "expired"


async def test_stale_or_duplicated_completion_signals_change_nothing(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(ts_env, pool, task_queue, task_strategy())
        task = await pending_task(pool, row.account_id)
        await claim_task(pool, task.task_id, AGENT)
        due = await ts_env.get_current_time() + timedelta(days=4)
        promise = TaskCompletion(
            task_id=task.task_id,
            agent_id=AGENT,
            outcome=TaskOutcome.PROMISE_TO_PAY,
            amount_cop=250_000,
            due_at=due,
        )
        # The same signal twice (a sender's retry), then a different, late one for the same task.
        await handle.signal(CollectionWorkflow.task_completed, promise)
        await handle.signal(CollectionWorkflow.task_completed, promise)
        await eventually(lambda: has_kind(pool, row.account_id, "promise_registered"))
        state = await status_of(handle)
        await handle.signal(
            CollectionWorkflow.task_completed,
            promise.model_copy(
                update={"outcome": TaskOutcome.REFUSES, "amount_cop": None, "due_at": None}
            ),
        )
        await handle.signal(
            CollectionWorkflow.task_completed,
            promise.model_copy(update={"task_id": "T-00000000000000ff"}),
        )
        await eventually(lambda: _count(pool, row.account_id, "task_completion_stale", 3))
        after = await status_of(handle)
        await cancel(handle)
    rows = await log(pool, row.account_id)
    kinds = [r["kind"] for r in rows]
    assert kinds.count("task_completed") == 1 and kinds.count("promise_registered") == 1
    stale = [r["detail"]["reason"] for r in rows if r["kind"] == "task_completion_stale"]
    # The repeat is a duplicate if it arrived before the first was acted on, else closed.
    assert stale[0] in {"duplicate", "already_closed"}
    assert stale[1:] == ["already_closed", "not_open"]
    assert "escalated" not in kinds
    assert after.open_promise == state.open_promise and after.stage == Stage.PREVENTIVA


async def _count(pool: AsyncConnectionPool, account_id: str, kind: str, n: int) -> bool:
    return (await kinds_of(pool, account_id)).count(kind) >= n


async def test_workflow_rechecks_and_logs_a_rejected_completion(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(
            ts_env, pool, task_queue, task_strategy(), balance_cop=500_000
        )
        task = await pending_task(pool, row.account_id)
        await claim_task(pool, task.task_id, AGENT)
        # Straight to the workflow, past the CLI's own check: it refuses and logs why.
        await handle.signal(
            CollectionWorkflow.task_completed,
            TaskCompletion(
                task_id=task.task_id,
                agent_id=AGENT,
                outcome=TaskOutcome.PROMISE_TO_PAY,
                amount_cop=900_000,
                due_at=await ts_env.get_current_time() + timedelta(days=2),
            ),
        )
        await eventually(lambda: has_kind(pool, row.account_id, "task_completion_rejected"))
        view = await handle.query(CollectionWorkflow.task_view)
        stored = await task_row(pool, task.task_id)
        receipt = await handle.execute_update(
            CollectionWorkflow.complete_task,
            TaskCompletion(task_id=task.task_id, agent_id=AGENT, outcome=TaskOutcome.NO_ANSWER),
        )
        await cancel(handle)
    assert view.task is not None and view.task.task_id == task.task_id
    assert view.task.completion is None and view.balance_cop == 500_000
    assert stored["status"] == "claimed" and stored["assigned_to"] == AGENT
    assert receipt.status == ACCEPTED
    rows = await log(pool, row.account_id)
    rejected = next(r for r in rows if r["kind"] == "task_completion_rejected")
    assert rejected["detail"]["problems"] == ["amount_over_balance"]
    assert "promise_registered" not in [r["kind"] for r in rows]


async def test_an_earlier_promise_falling_due_ends_the_task_and_escalates(
    ts_env: WorkflowEnvironment, pool: AsyncConnectionPool, task_queue: str
) -> None:
    async with running_worker(ts_env.client, pool, task_queue, adapter=SILENT):
        row, handle = await start_account(ts_env, pool, task_queue, task_strategy(sla="10d"))
        task = await pending_task(pool, row.account_id)
        await handle.signal(
            CollectionWorkflow.promise_registered,
            PromiseToPay(
                amount_cop=300_000, due_at=await ts_env.get_current_time() + timedelta(days=1)
            ),
        )
        # Due in a day plus the strategy's 2-day grace, long before the task's 10-day SLA.
        await advance(ts_env, 3.5)
        status = await status_of(handle)
        await cancel(handle)
    assert status.stage == Stage.ADMINISTRATIVA and status.promises_broken == 1
    stored = await task_row(pool, task.task_id)
    assert stored["status"] == "closed" and stored["close_reason"] == "promise_deadline_passed"
    kinds = await kinds_of(pool, row.account_id)
    closed = kinds.index("task_closed")
    assert kinds[closed + 1 : closed + 3] == ["promise_broken", "escalated"]
