"""CollectionWorkflow: one durable workflow per delinquent account.

It interprets the account's strategy snapshot step by step (contact, wait, promise check, escalate,
close) through the stages preventiva -> administrativa -> prejurídica -> jurídica. Every step and
every signal it acts on is written to `collection_log` by an activity whose input is exactly the row,
so the Temporal history and the Postgres log answer for each other one to one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from activities.contact import ContactActivities
    from activities.steplog import StepLogActivities
    from cobranza.domain import Outcome, Stage
    from cobranza.durations import format_duration
    from cobranza.models import (
        CollectionInput,
        CollectionResult,
        CollectionState,
        CollectionStatus,
        ContactCommand,
        ContactResult,
        ControlRequest,
        LogEntry,
        OpenPromise,
        PaymentReceived,
        PromiseToPay,
    )
    from cobranza.search_attributes import (
        CAMPAIGN_ID,
        COLLECTION_OUTCOME,
        COLLECTION_STAGE,
        DAYS_PAST_DUE,
    )
    from cobranza.strategy import (
        CloseStep,
        ContactStep,
        EscalateStep,
        PromiseCheckStep,
        Step,
        WaitStep,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=30)
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["DuplicateCollection", "UnknownAccount"],
)


def _iso(value: datetime) -> str:
    return value.isoformat()


@workflow.defn
class CollectionWorkflow:
    @workflow.init
    def __init__(self, input: CollectionInput) -> None:
        self._input = input
        self._strategy = input.strategy
        if input.state is not None:
            self._state = input.state.model_copy(deep=True)
        else:
            stage, index = self._strategy.start_for(input.days_past_due)
            self._state = CollectionState(
                stage=stage,
                step_index=index,
                balance_cop=input.balance_cop,
                days_past_due_at_open=input.days_past_due,
            )
        self._lock = asyncio.Lock()
        self._next_wake_up: datetime | None = None
        self._escalation_reason = "strategy"
        self._days_past_due_published = -1

    # --- the main loop ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: CollectionInput) -> CollectionResult:
        if self._state.opened_at is None:
            self._state.opened_at = workflow.now()
            await self._record(
                "opened",
                {
                    "strategy": self._strategy.name,
                    "strategy_version": self._strategy.version,
                    "balance_cop": self._state.balance_cop,
                    "days_past_due": self._input.days_past_due,
                    "product": self._input.product,
                    "campaign_id": self._input.campaign_id,
                    "start_step": self._current_step_id(),
                },
            )
        self._publish_search_attributes()
        while self._state.outcome is None:
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._input.model_copy(update={"state": self._state}))
            await self._next_step()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return CollectionResult(
            account_id=self._input.account_id,
            outcome=self._state.outcome,
            stage=self._state.stage,
            balance_cop=self._state.balance_cop,
            paid_cop=self._state.paid_cop,
            steps_logged=self._state.seq,
        )

    async def _next_step(self) -> None:
        if not await self._settle():
            return
        if self._state.step_index >= len(self._strategy.steps):
            await self._finish(Outcome.EXHAUSTED, "strategy_ended")
            return
        step = self._strategy.steps[self._state.step_index]
        if isinstance(step, ContactStep):
            await self._contact(step)
        elif isinstance(step, WaitStep):
            if not await self._wait(step):
                return
        elif isinstance(step, PromiseCheckStep):
            if not await self._promise_check(step):
                return
        elif isinstance(step, EscalateStep):
            await self._escalate(step)
        elif isinstance(step, CloseStep):
            await self._finish(step.outcome, "strategy_close_step", step)
            return
        self._state.step_index += 1
        self._publish_search_attributes()

    async def _settle(self) -> bool:
        """Act on what signals changed; returns False when the collection has ended."""
        while True:
            if self._state.balance_cop <= 0:
                await self._finish(Outcome.PAID, "balance_covered")
                return False
            if self._state.cancel_requested is not None:
                await self._finish(Outcome.CANCELLED, "cancel_requested")
                return False
            promise = self._state.promise
            if promise is not None and workflow.now() >= promise.deadline:
                await self._promise_broken(promise)
                continue
            if self._state.paused:
                self._next_wake_up = None
                await workflow.wait_condition(lambda: not self._state.paused or self._must_stop())
                continue
            return True

    # --- steps -----------------------------------------------------------------------------------

    async def _contact(self, step: ContactStep) -> None:
        promise = self._state.promise
        if promise is not None:
            # The debtor has committed to pay: no collection messages until the promise is decided.
            await self._record(
                "contact_skipped",
                {
                    "step": step.id,
                    "channel": step.channel.value,
                    "reason": "promise_pending",
                    "promise_due_at": _iso(promise.due_at),
                },
            )
            return
        result: ContactResult = await self._record(
            "contact",
            {"step": step.id, "channel": step.channel.value, "template": step.template},
            contact=step,
        )
        if result.status == "delivered":
            self._state.contacts_sent += 1
        else:
            await self._record(
                "contact_failed",
                {
                    "step": step.id,
                    "channel": step.channel.value,
                    "status": result.status,
                    "provider_message_id": result.provider_message_id,
                },
            )
        if result.reply is not None:
            await self._record(
                "debtor_reply",
                {
                    "step": step.id,
                    "channel": step.channel.value,
                    "reply": result.reply.kind,
                    "provider_message_id": result.provider_message_id,
                },
            )
            if result.reply.kind == "promise_to_pay":
                due_at = workflow.now() + self._strategy.reply_promise_after
                await self._register_promise(
                    PromiseToPay(
                        amount_cop=result.reply.amount_cop or self._state.balance_cop,
                        due_at=due_at,
                        source="debtor_reply",
                    )
                )

    async def _wait(self, step: WaitStep) -> bool:
        """Sleeps the step's duration on the strategy clock; False when interrupted."""
        total = step.duration.total_seconds()
        if self._state.wait_elapsed_s == 0:
            await self._record(
                "wait",
                {
                    "step": step.id,
                    "duration": format_duration(step.duration),
                    "until": _iso(workflow.now() + step.duration),
                },
            )
        while self._state.wait_elapsed_s < total:
            if self._must_stop() or self._promise_deadline_passed() or self._state.paused:
                return False
            remaining = total - self._state.wait_elapsed_s
            started = workflow.now()
            await self._sleep(timedelta(seconds=remaining))
            self._state.wait_elapsed_s += (workflow.now() - started).total_seconds()
        self._state.wait_elapsed_s = 0
        return True

    async def _promise_check(self, step: PromiseCheckStep) -> bool:
        promise = self._state.promise
        if promise is None:
            await self._record(
                "promise_check",
                {
                    "step": step.id,
                    "result": "no_open_promise",
                    "promises_kept": self._state.promises_kept,
                    "promises_broken": self._state.promises_broken,
                },
            )
            return True
        deadline = promise.due_at + step.grace
        if deadline != promise.deadline:
            self._state.promise = promise.model_copy(update={"deadline": deadline})
        await self._record(
            "promise_check",
            {
                "step": step.id,
                "result": "waiting",
                "due_at": _iso(promise.due_at),
                "deadline": _iso(deadline),
                "amount_cop": promise.amount_cop,
            },
        )
        while self._state.promise is not None:
            if self._must_stop() or self._promise_deadline_passed() or self._state.paused:
                return False
            await self._sleep(None)
        return True

    async def _escalate(self, step: EscalateStep) -> None:
        previous = self._state.stage
        self._state.stage = step.to_stage
        await self._record(
            "escalated",
            {
                "step": step.id,
                "from_stage": previous.value,
                "to_stage": step.to_stage.value,
                "reason": self._escalation_reason,
            },
        )
        self._escalation_reason = "strategy"

    async def _finish(self, outcome: Outcome, reason: str, step: Step | None = None) -> None:
        # Let in-flight signal handlers log first (a payment's promise_kept), so "closed" is last.
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._state.outcome = outcome
        self._next_wake_up = None
        detail: dict[str, Any] = {
            "outcome": outcome.value,
            "reason": reason,
            "balance_cop": self._state.balance_cop,
            "paid_cop": self._state.paid_cop,
        }
        if step is not None:
            detail["step"] = step.id
        if outcome == Outcome.CANCELLED and self._state.cancel_requested is not None:
            detail["requested_by"] = self._state.cancel_requested.requested_by
            detail["cancel_reason"] = self._state.cancel_requested.reason
        await self._record("closed", detail)
        self._publish_search_attributes()

    # --- promises --------------------------------------------------------------------------------

    def _promise_rejection(self, promise: PromiseToPay) -> str | None:
        now = workflow.now()
        if promise.amount_cop > self._state.balance_cop:
            return "amount_over_balance"
        if promise.due_at <= now:
            return "due_date_not_in_future"
        if promise.due_at > now + self._strategy.promise_max_horizon:
            return "due_date_beyond_horizon"
        return None

    async def _register_promise(self, promise: PromiseToPay) -> None:
        rejection = self._promise_rejection(promise)
        if rejection is not None:
            await self._record(
                "promise_rejected",
                {
                    "reason": rejection,
                    "amount_cop": promise.amount_cop,
                    "due_at": _iso(promise.due_at),
                    "source": promise.source,
                    "balance_cop": self._state.balance_cop,
                },
            )
            return
        replaced = self._state.promise
        self._state.promise = OpenPromise(
            amount_cop=promise.amount_cop,
            due_at=promise.due_at,
            deadline=promise.due_at + self._grace_ahead(),
            registered_at=workflow.now(),
            source=promise.source,
        )
        detail: dict[str, Any] = {
            "amount_cop": promise.amount_cop,
            "due_at": _iso(promise.due_at),
            "deadline": _iso(self._state.promise.deadline),
            "source": promise.source,
        }
        if replaced is not None:
            detail["replaces_due_at"] = _iso(replaced.due_at)
        await self._record("promise_registered", detail)

    def _grace_ahead(self) -> timedelta:
        """The grace of the next promise check in the strategy (zero when there is none)."""
        for step in self._strategy.steps[self._state.step_index :]:
            if isinstance(step, PromiseCheckStep):
                return step.grace
        return timedelta()

    async def _promise_broken(self, promise: OpenPromise) -> None:
        self._state.promise = None
        self._state.promises_broken += 1
        escalation = self._strategy.next_escalation_index(self._state.step_index - 1)
        await self._record(
            "promise_broken",
            {
                "amount_cop": promise.amount_cop,
                "due_at": _iso(promise.due_at),
                "paid_toward_cop": promise.paid_toward_cop,
                "source": promise.source,
                "escalates_to_step": (
                    self._strategy.steps[escalation].id if escalation is not None else None
                ),
            },
        )
        if escalation is not None:
            # A broken promise skips the rest of the stage and escalates now.
            self._state.step_index = escalation
            self._state.wait_elapsed_s = 0
            self._escalation_reason = "promise_broken"

    # --- signals and query -----------------------------------------------------------------------

    @workflow.signal
    async def payment_received(self, payment: PaymentReceived) -> None:
        if payment.reference in self._state.payment_references:
            await self._record(
                "payment_duplicate",
                {
                    "reference": payment.reference,
                    "amount_cop": payment.amount_cop,
                    "source": payment.source,
                },
            )
            return
        self._state.payment_references.append(payment.reference)
        applied = min(payment.amount_cop, self._state.balance_cop)
        self._state.balance_cop -= applied
        self._state.paid_cop += payment.amount_cop
        promise = self._state.promise
        kept = False
        if promise is not None:
            paid_toward = promise.paid_toward_cop + payment.amount_cop
            kept = paid_toward >= promise.amount_cop or self._state.balance_cop <= 0
            if kept:
                self._state.promise = None
                self._state.promises_kept += 1
            else:
                self._state.promise = promise.model_copy(update={"paid_toward_cop": paid_toward})
        await self._record(
            "payment_received",
            {
                "reference": payment.reference,
                "amount_cop": payment.amount_cop,
                "applied_cop": applied,
                "overpayment_cop": payment.amount_cop - applied,
                "balance_after_cop": self._state.balance_cop,
                "paid_at": _iso(payment.paid_at),
                "source": payment.source,
                "collection_open": self._state.outcome is None,
            },
        )
        if kept and promise is not None:
            await self._record(
                "promise_kept",
                {
                    "amount_cop": promise.amount_cop,
                    "due_at": _iso(promise.due_at),
                    "source": promise.source,
                },
            )

    @workflow.signal
    async def promise_registered(self, promise: PromiseToPay) -> None:
        if self._state.outcome is not None:
            return
        await self._register_promise(promise)

    @workflow.signal
    async def pause(self, request: ControlRequest) -> None:
        changed = not self._state.paused and self._state.outcome is None
        self._state.paused = self._state.paused or changed
        await self._record(
            "paused" if changed else "pause_ignored",
            {"requested_by": request.requested_by, "reason": request.reason},
        )

    @workflow.signal
    async def resume(self, request: ControlRequest) -> None:
        changed = self._state.paused
        self._state.paused = False
        await self._record(
            "resumed" if changed else "resume_ignored",
            {"requested_by": request.requested_by, "reason": request.reason},
        )

    @workflow.signal
    async def cancel(self, request: ControlRequest) -> None:
        if self._state.outcome is not None or self._state.cancel_requested is not None:
            return
        self._state.cancel_requested = request

    @workflow.query
    def status(self) -> CollectionStatus:
        step = (
            self._strategy.steps[self._state.step_index]
            if self._state.step_index < len(self._strategy.steps) and self._state.outcome is None
            else None
        )
        return CollectionStatus(
            account_id=self._input.account_id,
            workflow_id=workflow.info().workflow_id,
            campaign_id=self._input.campaign_id,
            strategy=self._strategy.name,
            strategy_version=self._strategy.version,
            stage=self._state.stage,
            balance_cop=self._state.balance_cop,
            original_balance_cop=self._input.balance_cop,
            paid_cop=self._state.paid_cop,
            days_past_due=self._days_past_due(),
            step_index=self._state.step_index,
            step_id=step.id if step else None,
            step_kind=step.kind if step else None,
            paused=self._state.paused,
            open_promise=self._state.promise,
            promises_kept=self._state.promises_kept,
            promises_broken=self._state.promises_broken,
            contacts_sent=self._state.contacts_sent,
            outcome=self._state.outcome,
            next_wake_up=None if self._state.paused else self._next_wake_up,
            steps_logged=self._state.seq,
            promise_horizon_until=workflow.now() + self._strategy.promise_max_horizon,
        )

    # --- helpers ---------------------------------------------------------------------------------

    def _must_stop(self) -> bool:
        return self._state.balance_cop <= 0 or self._state.cancel_requested is not None

    def _promise_deadline_passed(self) -> bool:
        promise = self._state.promise
        return promise is not None and workflow.now() >= promise.deadline

    async def _sleep(self, duration: timedelta | None) -> None:
        """A timer raced against everything that must wake the workflow early."""
        now = workflow.now()
        wake = now + duration if duration is not None else None
        promise = self._state.promise
        if promise is not None and (wake is None or promise.deadline < wake):
            wake = promise.deadline
        self._next_wake_up = wake
        promise_before = self._state.promise
        try:
            await workflow.wait_condition(
                lambda: (
                    self._must_stop()
                    or self._state.paused
                    or self._state.promise is not promise_before
                ),
                timeout=(wake - now) if wake is not None else None,
            )
        except TimeoutError:
            pass
        finally:
            self._next_wake_up = None

    def _current_step_id(self) -> str | None:
        if self._state.step_index < len(self._strategy.steps):
            return self._strategy.steps[self._state.step_index].id
        return None

    def _days_past_due(self) -> int:
        opened = self._state.opened_at or workflow.now()
        return self._state.days_past_due_at_open + (workflow.now() - opened).days

    def _publish_search_attributes(self) -> None:
        updates: list[SearchAttributeUpdate[Any]] = [
            COLLECTION_STAGE.value_set(self._state.stage.value),
            COLLECTION_OUTCOME.value_set(
                self._state.outcome.value if self._state.outcome else "open"
            ),
        ]
        if self._input.campaign_id:
            updates.append(CAMPAIGN_ID.value_set(self._input.campaign_id))
        dpd = self._days_past_due()
        if dpd != self._days_past_due_published:
            updates.append(DAYS_PAST_DUE.value_set(dpd))
            self._days_past_due_published = dpd
        current = workflow.info().typed_search_attributes
        changed = [u for u in updates if current.get(u.key) != u.value]
        if changed:
            workflow.upsert_search_attributes(changed)

    async def _record(
        self, kind: str, detail: dict[str, Any], *, contact: ContactStep | None = None
    ) -> Any:
        """Writes one log row (and, for a contact, its outbox message) in sequence order."""
        async with self._lock:
            self._state.seq += 1
            info = workflow.info()
            entry = LogEntry(
                account_id=self._input.account_id,
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                collection_id=info.first_execution_run_id,
                seq=self._state.seq,
                kind=kind,
                stage=self._state.stage,
                detail=detail,
                occurred_at=workflow.now(),
                campaign_id=self._input.campaign_id,
                strategy=self._strategy.name,
                balance_cop=self._state.balance_cop,
                original_balance_cop=self._input.balance_cop,
                outcome=self._state.outcome,
            )
            if contact is not None:
                return await workflow.execute_activity_method(
                    ContactActivities.send_contact,
                    ContactCommand(
                        entry=entry,
                        channel=contact.channel,
                        template=contact.template,
                        reply_promise_after_s=self._strategy.reply_promise_after.total_seconds(),
                    ),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                )
            return await workflow.execute_activity_method(
                StepLogActivities.record_step,
                entry,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )


__all__ = ["CollectionWorkflow", "Stage"]
