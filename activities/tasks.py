"""The human task step: its log row and the task's worklist row change in one transaction.

One activity per step, like the contact step: the activity input is exactly the log row plus the
task change, so a retry finds the row written and changes nothing twice.
"""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from activities.steplog import AfterCommit, insert_log_row
from cobranza.domain import TaskOutcome
from cobranza.models import LogEntry, LogReceipt, TaskChange, TaskCommand


async def apply_task_change(conn: AsyncConnection, entry: LogEntry, change: TaskChange) -> None:
    """The worklist side of one task step; the caller owns the transaction."""
    at = entry.occurred_at
    if change.action == "open":
        await conn.execute(
            """INSERT INTO agent_tasks (task_id, workflow_id, collection_id, seq, account_id,
                   campaign_id, kind, team, step_id, origin, parent_task_id, priority, score,
                   not_before, due_at, created_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (task_id) DO NOTHING""",
            (
                change.task_id,
                entry.workflow_id,
                entry.collection_id,
                entry.seq,
                entry.account_id,
                entry.campaign_id,
                change.kind.value,
                change.team,
                change.step_id,
                change.origin,
                change.parent_task_id,
                change.priority,
                change.score,
                change.not_before,
                change.due_at,
                at,
            ),
        )
    elif change.action == "reassign":
        # Back to the team's queue: whoever had it lost it by letting the SLA pass.
        await conn.execute(
            """UPDATE agent_tasks SET status = 'open',
                   last_assigned_to = coalesce(assigned_to, last_assigned_to),
                   assigned_to = NULL, claimed_at = NULL, due_at = %s, reassignments = %s,
                   updated_at = now()
               WHERE task_id = %s AND status IN ('open', 'claimed')""",
            (change.due_at, change.reassignments, change.task_id),
        )
    elif change.action in ("expire", "close"):
        await conn.execute(
            """UPDATE agent_tasks SET status = %s,
                   last_assigned_to = coalesce(assigned_to, last_assigned_to),
                   assigned_to = NULL, close_reason = %s, updated_at = now()
               WHERE task_id = %s AND status IN ('open', 'claimed')""",
            (
                "expired" if change.action == "expire" else "closed",
                change.reason,
                change.task_id,
            ),
        )
    elif change.action == "complete":
        completion = change.completion
        assert completion is not None
        await conn.execute(
            """UPDATE agent_tasks SET status = 'completed',
                   last_assigned_to = coalesce(assigned_to, last_assigned_to),
                   assigned_to = NULL, outcome = %s, completed_by = %s, completed_at = %s,
                   note_id = %s, updated_at = now()
               WHERE task_id = %s""",
            (
                completion.outcome.value,
                completion.agent_id,
                at,
                completion.note_id,
                change.task_id,
            ),
        )
        if completion.outcome == TaskOutcome.WRONG_NUMBER:
            # Every phone channel (call, SMS, WhatsApp) skips this number from now on.
            await conn.execute(
                """INSERT INTO contact_points_invalid (debtor_id, point, value, reason, task_id)
                   SELECT d.debtor_id, 'phone', d.phone, 'wrong_number', %s
                   FROM accounts a JOIN debtors d USING (debtor_id)
                   WHERE a.account_id = %s AND d.phone IS NOT NULL
                   ON CONFLICT DO NOTHING""",
                (change.task_id, entry.account_id),
            )
        elif completion.outcome == TaskOutcome.PAYMENT_CONFIRMED:
            assert completion.reference is not None and completion.amount_cop is not None
            await conn.execute(
                """INSERT INTO payments (payment_reference, account_id, amount_cop, paid_at, source)
                   VALUES (%s, %s, %s, %s, 'agent_verification')
                   ON CONFLICT (payment_reference) DO NOTHING""",
                (completion.reference, entry.account_id, completion.amount_cop, at),
            )


class TaskActivities:
    def __init__(self, pool: AsyncConnectionPool, after_commit: AfterCommit | None = None) -> None:
        self._pool = pool
        self._after_commit = after_commit

    @activity.defn(name="record_task_step")
    async def record_task_step(self, command: TaskCommand) -> LogReceipt:
        async with self._pool.connection() as conn, conn.transaction():
            receipt = await insert_log_row(conn, command.entry)
            if receipt.inserted:
                # Written with the row or not at all: a retry that finds the row skips this.
                await apply_task_change(conn, command.entry, command.change)
        if self._after_commit is not None:
            self._after_commit(command.entry)
        return receipt
