"""Simulated agents (gestores) for the demo: they claim the worklist's most urgent tasks and record
plausible outcomes (promises, payment agreements, no answer, disputes...).

They go through the same code path as people (cobranza.tasks: claim, then the validated
completion update), so the demo exercises the real worklist, the validation and the workflow.
Choices are decided by seed and task id, so a rerun with the same seed decides the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from cobranza.compliance.calendar import is_within_window
from cobranza.domain import TaskKind, TaskOutcome
from cobranza.models import Installment, TaskCompletion, TaskView
from cobranza.tasks import (
    TaskError,
    TaskRow,
    add_agent,
    claim_task,
    complete_task,
    list_tasks,
    task_view,
)

# How often each outcome is recorded on a call: most debtors reached promise or agree.
DEFAULT_CALL_WEIGHTS: dict[TaskOutcome, int] = {
    TaskOutcome.PROMISE_TO_PAY: 30,
    TaskOutcome.PAYMENT_AGREEMENT: 18,
    TaskOutcome.NO_ANSWER: 14,
    TaskOutcome.LEFT_MESSAGE: 9,
    TaskOutcome.CALL_BACK: 5,
    TaskOutcome.ALREADY_PAID: 5,
    TaskOutcome.WRONG_NUMBER: 5,
    TaskOutcome.REFUSES: 7,
    TaskOutcome.DISPUTE: 4,
    TaskOutcome.DECEASED: 1,
    TaskOutcome.BANKRUPT: 2,
}


class SimulatedAgents:
    """`agents` agents per team (and as many supervisors), each working one task per tick."""

    def __init__(
        self,
        client: Client,
        pool: AsyncConnectionPool,
        *,
        agents: int,
        seed: int = 2300,
        call_weights: Mapping[TaskOutcome, int] | None = None,
        promise_after: timedelta = timedelta(seconds=15),
        installment_every: timedelta = timedelta(seconds=10),
        call_back_after: timedelta = timedelta(seconds=8),
    ) -> None:
        self._client = client
        self._pool = pool
        self._agents = agents
        self._seed = seed
        self._weights = dict(call_weights or DEFAULT_CALL_WEIGHTS)
        self._promise_after = promise_after
        self._installment_every = installment_every
        self._call_back_after = call_back_after
        self._registered: set[str] = set()
        self.completed: dict[TaskOutcome, int] = {}

    def _agent_ids(self, team: str) -> list[str]:
        return [f"sim-{team}-{n}" for n in range(1, self._agents + 1)]

    async def _ensure_team(self, team: str, supervisors: bool) -> None:
        if team in self._registered:
            return
        for number, agent_id in enumerate(self._agent_ids(team), start=1):
            await add_agent(
                self._pool,
                agent_id=agent_id,
                full_name=f"Gestor simulado {number} ({team})",
                team=team,
                role="supervisor" if supervisors else "agent",
            )
        self._registered.add(team)

    async def tick(self, campaign_id: str) -> int:
        """Work the campaign's open tasks, most urgent first; returns the tasks completed."""
        if self._agents <= 0:
            return 0
        open_tasks = await list_tasks(self._pool, campaign_id=campaign_id, statuses=("open",))
        now = datetime.now(UTC)
        free: dict[str, list[str]] = {}
        assignments: list[tuple[TaskRow, str]] = []
        for task in open_tasks:
            if task.not_before is not None and task.not_before > now:
                continue
            supervised = task.kind in (TaskKind.REVIEW_DISPUTE, TaskKind.SUPERVISOR_REVIEW)
            await self._ensure_team(task.team, supervised)
            agents = free.setdefault(task.team, self._agent_ids(task.team))
            if agents:
                assignments.append((task, agents.pop()))
        # Agents work side by side, as people at their desks do.
        results = await asyncio.gather(*(self._work(task, agent) for task, agent in assignments))
        return sum(results)

    async def _work(self, task: TaskRow, agent_id: str) -> bool:
        try:
            await claim_task(self._pool, task.task_id, agent_id)
        except TaskError:
            return False  # someone else took it, or the collection closed it meanwhile
        try:
            view = await task_view(self._client, task.account_id)
            if view.balance_cop <= 0:
                return False  # just paid: the workflow is closing the task itself
            completion = self._decide(task, agent_id, view)
            await complete_task(self._client, self._pool, completion)
        except (TaskError, ValueError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError):
            # The collection moved on meanwhile (closed, paid, busy): a person would just take
            # the next task, and so does the simulation; it never stops the demo.
            return False
        self.completed[completion.outcome] = self.completed.get(completion.outcome, 0) + 1
        return True

    def _rng(self, task_id: str) -> random.Random:
        return random.Random(hashlib.sha256(f"{self._seed}:{task_id}".encode()).digest())

    def _decide(self, task: TaskRow, agent_id: str, view: TaskView) -> TaskCompletion:
        rng = self._rng(task.task_id)
        base = {"task_id": task.task_id, "agent_id": agent_id}
        now = max(view.now, datetime.now(UTC))
        if task.kind == TaskKind.VERIFY_PAYMENT:
            if rng.random() < 0.5:
                return TaskCompletion(
                    **base,
                    outcome=TaskOutcome.PAYMENT_CONFIRMED,
                    amount_cop=view.balance_cop,
                    reference=f"SIM-VER-{task.task_id}",
                )
            return TaskCompletion(**base, outcome=TaskOutcome.PAYMENT_NOT_FOUND)
        if task.kind == TaskKind.REVIEW_DISPUTE:
            upheld = rng.random() < 0.25
            outcome = TaskOutcome.DISPUTE_UPHELD if upheld else TaskOutcome.DISPUTE_REJECTED
            return TaskCompletion(**base, outcome=outcome)
        if task.kind == TaskKind.SUPERVISOR_REVIEW:
            roll = rng.random()
            outcome = (
                TaskOutcome.RESUME_COLLECTION
                if roll < 0.4
                else TaskOutcome.CLOSE_COLLECTION
                if roll < 0.8
                else TaskOutcome.HAND_TO_LEGAL
            )
            return TaskCompletion(**base, outcome=outcome)
        outcomes = list(self._weights)
        outcome = rng.choices(outcomes, weights=[self._weights[o] for o in outcomes])[0]
        balance = view.balance_cop
        if outcome == TaskOutcome.PROMISE_TO_PAY:
            due = min(now + self._promise_after, view.promise_horizon_until)
            return TaskCompletion(**base, outcome=outcome, amount_cop=balance, due_at=due)
        if outcome == TaskOutcome.PAYMENT_AGREEMENT and balance >= 2:
            count = rng.choice((2, 3)) if balance >= 3 else 2
            share = balance // count
            amounts = [share] * (count - 1) + [balance - share * (count - 1)]
            installments = [
                Installment(due_at=now + self._installment_every * (n + 1), amount_cop=amount)
                for n, amount in enumerate(amounts)
            ]
            if installments[-1].due_at <= view.agreement_horizon_until:
                return TaskCompletion(
                    **base, outcome=outcome, amount_cop=balance, installments=installments
                )
            outcome = TaskOutcome.LEFT_MESSAGE
        if outcome == TaskOutcome.CALL_BACK:
            at = now + self._call_back_after
            if is_within_window(at, view.contact_rules) and at <= view.promise_horizon_until:
                return TaskCompletion(**base, outcome=outcome, call_back_at=at)
            outcome = TaskOutcome.LEFT_MESSAGE  # outside legal hours: no call back tonight
        if outcome == TaskOutcome.PAYMENT_AGREEMENT:
            outcome = TaskOutcome.LEFT_MESSAGE
        return TaskCompletion(**base, outcome=outcome)
