"""CollectionWorkflow: one durable workflow per delinquent account.

It interprets the account's strategy snapshot step by step (contact, wait, promise check, escalate,
close) through the stages preventiva -> administrativa -> prejurídica -> jurídica. Every step and
every signal it acts on is written to `collection_log` by an activity whose input is exactly the row,
so the Temporal history and the Postgres log answer for each other one to one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from activities.bureau import BureauActivities
    from activities.contact import ContactActivities
    from activities.steplog import StepLogActivities
    from activities.tasks import TaskActivities
    from cobranza.compliance import (
        ContactAttempt,
        ContactRequest,
        decide_bureau_report,
        decide_contact,
    )
    from cobranza.domain import Outcome, Stage, TaskKind, TaskOutcome
    from cobranza.durations import format_duration
    from cobranza.models import (
        AccountHold,
        AgreementState,
        BureauCommand,
        CollectionInput,
        CollectionResult,
        CollectionState,
        CollectionStatus,
        CompletionReceipt,
        ContactCommand,
        ContactResult,
        ControlRequest,
        DisputeNotice,
        DisputeResolution,
        HoldReason,
        LogEntry,
        OpenPromise,
        OpenTask,
        PaymentReceived,
        PromiseToPay,
        ReservationRequest,
        TaskChange,
        TaskCommand,
        TaskCompletion,
        TaskOrigin,
        TaskView,
    )
    from cobranza.search_attributes import (
        CAMPAIGN_ID,
        COLLECTION_OUTCOME,
        COLLECTION_STAGE,
        DAYS_PAST_DUE,
    )
    from cobranza.strategy import (
        AgentTaskStep,
        BureauNoticeStep,
        BureauReportStep,
        CloseStep,
        ContactStep,
        EscalateStep,
        PromiseCheckStep,
        Step,
        WaitStep,
    )
    from cobranza.tasks import (
        OUTCOME_EFFECTS,
        CompletionContext,
        completion_fields,
        completion_problems,
        priority_score,
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
        self._rules = input.contact_rules
        self._last_deferral: tuple[str, str, datetime] | None = None
        # Engine 2 publishes search attributes at rest points (_rest), engine 1 after every step.
        self._sa_at_rest = input.engine_version >= 2

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
        if not self._sa_at_rest:
            self._publish_search_attributes()
        while self._state.outcome is None:
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._sa_at_rest:
                    self._publish_search_attributes()
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
            if not await self._contact(step):
                return
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
        elif isinstance(step, BureauNoticeStep):
            await self._bureau_notice(step)
        elif isinstance(step, BureauReportStep):
            if not await self._bureau_report(step):
                return
        elif isinstance(step, AgentTaskStep):
            if not await self._agent_task(step):
                return
        self._state.step_index += 1
        if not self._sa_at_rest:
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
            if self._state.hold is not None:
                # Disputes, deceased, bankrupt: no step (so no contact) until reviewed.
                await self._hold()
                if self._state.outcome is not None:
                    return False
                continue
            promise = self._state.promise
            if promise is not None and workflow.now() >= promise.deadline:
                await self._promise_broken(promise)
                continue
            if self._state.paused:
                self._next_wake_up = None
                await self._rest(lambda: not self._state.paused or self._must_stop())
                continue
            return True

    # --- steps -----------------------------------------------------------------------------------

    async def _contact(self, step: ContactStep) -> bool:
        """One contact, within the law: False when interrupted (the step runs again later)."""
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
            return True
        result = await self._reserve_and_send(step)
        if result is None:
            return False
        if not result.logged:
            return True  # refused, and logged as such
        self._remember_contact(step, result.reply is not None)
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
        return True

    async def _reserve_and_send(self, step: ContactStep) -> ContactResult | None:
        """Waits until the law allows this contact and the debtor's gate grants it, then sends.

        Returns the send's result (`logged` False when refused), or None when interrupted
        (payment, cancel, pause or a promise deadline). The calendar is checked here,
        deterministically, with the rules snapshot; the per-debtor gate, inside the same
        transaction that logs and queues the message, checks the caps and authorizations across
        all of the person's accounts under a row lock. Every deferral and refusal is logged with
        its rule.
        """
        while True:
            if self._step_interrupted():
                return None
            now = workflow.now()
            decision = decide_contact(
                ContactRequest(
                    at=now,
                    channel=step.channel,
                    recipient_role=step.recipient_role,
                    purpose=step.purpose,
                    # Authorization is the gate's to judge, from the debtor's current record.
                    authorized_channels=frozenset({step.channel}),
                ),
                self._state.contact_history,
                self._rules,
            )
            decided_by = "calendar"
            if decision.verdict == "allow":
                self._state.contact_attempts += 1
                info = workflow.info()
                key = (
                    f"{info.workflow_id}:{info.first_execution_run_id}:"
                    f"{self._state.contact_attempts}"
                )
                result: ContactResult = await self._record(
                    "contact",
                    {
                        "step": step.id,
                        "channel": step.channel.value,
                        "template": step.template,
                        "purpose": step.purpose.value,
                        "recipient_role": step.recipient_role.value,
                        "reservation": key,
                        "rules_version": self._rules.version,
                    },
                    contact=step,
                    reservation=ReservationRequest(
                        reservation_key=key,
                        account_id=self._input.account_id,
                        at=now,
                        channel=step.channel,
                        recipient_role=step.recipient_role,
                        purpose=step.purpose,
                        rules=self._rules,
                        on_hold=self._state.hold is not None,
                    ),
                )
                if result.logged:
                    self._state.waiting_for_window_until = None
                    self._last_deferral = None
                    return result
                assert result.decision is not None
                decided_by = "debtor_gate"
                decision = result.decision
            detail = {
                "step": step.id,
                "channel": step.channel.value,
                "rule": decision.rule,
                "source": decision.source,
                "reason": decision.reason,
                "decided_by": decided_by,
                "rules_version": self._rules.version,
            }
            if decision.verdict == "refuse":
                self._state.contacts_refused += 1
                await self._record("contact_refused", detail)
                return ContactResult(status="refused", inserted=False, logged=False)
            assert decision.not_before is not None
            marker = (step.id, decision.rule, decision.not_before)
            if marker != self._last_deferral:
                # Logged once per distinct deferral, not again after every early wake-up.
                self._last_deferral = marker
                self._state.contacts_deferred += 1
                await self._record(
                    "contact_deferred", {**detail, "not_before": _iso(decision.not_before)}
                )
            self._state.waiting_for_window_until = decision.not_before
            await self._sleep(decision.not_before - workflow.now())

    # --- credit bureau ----------------------------------------------------------------------------

    async def _bureau_notice(self, step: BureauNoticeStep) -> None:
        self._state.bureau_notices.append(workflow.now())
        await self._record(
            "bureau_notice",
            {
                "step": step.id,
                "balance_cop": self._state.balance_cop,
                "notice_number": len(self._state.bureau_notices),
                "rules_version": self._input.bureau_rules.version,
            },
            bureau="notice",
        )

    async def _bureau_report(self, step: BureauReportStep) -> bool:
        """Reports when the law allows it; waits out the notice period; False when interrupted."""
        logged_deferral: datetime | None = None
        while True:
            if self._step_interrupted():
                return False
            decision = decide_bureau_report(
                workflow.now(),
                self._state.bureau_notices,
                self._state.balance_cop,
                self._input.bureau_authorized,
                self._state.balance_cop <= 0,
                self._input.bureau_rules,
            )
            detail: dict[str, Any] = {
                "step": step.id,
                "rule": decision.rule,
                "source": decision.source,
                "reason": decision.reason,
                "notices": [_iso(n) for n in self._state.bureau_notices],
                "balance_cop": self._state.balance_cop,
                "rules_version": self._input.bureau_rules.version,
            }
            if decision.verdict == "allow":
                self._state.bureau_reported = True
                await self._record("bureau_report", detail, bureau="report")
                return True
            if decision.verdict == "refuse":
                await self._record("bureau_report_refused", detail)
                return True
            assert decision.not_before is not None
            if logged_deferral != decision.not_before:
                logged_deferral = decision.not_before
                await self._record(
                    "bureau_report_deferred",
                    {**detail, "not_before": _iso(decision.not_before)},
                )
            await self._sleep(decision.not_before - workflow.now())

    def _remember_contact(self, step: ContactStep, two_way: bool) -> None:
        now = workflow.now()
        self._state.contact_history = [
            attempt
            for attempt in self._state.contact_history
            if now - attempt.at < timedelta(days=8)
        ] + [ContactAttempt(at=now, channel=step.channel, purpose=step.purpose, two_way=two_way)]

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
            if self._step_interrupted():
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
            if self._step_interrupted():
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
            contact_rules_version=self._rules.version,
            contacts_deferred=self._state.contacts_deferred,
            contacts_refused=self._state.contacts_refused,
            waiting_for_window_until=self._state.waiting_for_window_until,
        )

    # --- human tasks -----------------------------------------------------------------------------

    async def _agent_task(self, step: AgentTaskStep) -> bool:
        """One human task and its follow-ups (verification, call back, agreement) to their end.

        False when interrupted (payment, cancel, a hold) or when the account jumps to an
        escalation; the step then runs again later and resumes from the state.
        """
        while True:
            if self._state.agreement is not None:
                return await self._follow_agreement()
            task = self._state.task
            if task is None:
                task = await self._open_task(
                    step.task_kind,
                    team=step.team,
                    sla=step.sla,
                    priority=step.priority,
                    step_id=step.id,
                    origin="step",
                )
            event = await self._await_task(task, held=False)
            if event == "stop":
                await self._close_task(task, self._interruption())
                return False
            if event == "expired":
                if step.on_sla_expiry == "escalate":
                    return await self._expire_task(task, escalate=True)
                if task.reassignments < step.max_reassignments:
                    await self._reassign_task(task)
                    continue
                # Nobody took it in time: the strategy goes on without the call.
                return await self._expire_task(task, escalate=False)
            done = await self._act_on_completion(step, task)
            if done is not None:
                return done

    async def _act_on_completion(self, step: AgentTaskStep, task: OpenTask) -> bool | None:
        """Applies an accepted completion's effect; None when a follow-up now needs waiting for."""
        completion = self._retire_task()
        outcome = completion.outcome
        if outcome == TaskOutcome.PROMISE_TO_PAY:
            assert completion.amount_cop is not None and completion.due_at is not None
            await self._register_promise(
                PromiseToPay(
                    amount_cop=completion.amount_cop, due_at=completion.due_at, source="agent"
                )
            )
            return True
        if outcome == TaskOutcome.PAYMENT_AGREEMENT:
            await self._start_agreement(task, completion)
            return None
        if outcome in (TaskOutcome.ALREADY_PAID, TaskOutcome.CALL_BACK):
            call_back = outcome == TaskOutcome.CALL_BACK
            await self._open_task(
                task.kind if call_back else TaskKind.VERIFY_PAYMENT,
                team=task.team,
                sla=step.sla,
                priority=step.priority,
                step_id=step.id,
                origin="call_back" if call_back else "already_paid",
                not_before=completion.call_back_at if call_back else None,
                parent_task_id=task.task_id,
            )
            return None
        if outcome == TaskOutcome.REFUSES:
            return not self._jump_to_escalation("debtor_refuses")
        if outcome == TaskOutcome.DISPUTE:
            await self._start_hold("dispute", f"task:{task.task_id}")
        elif outcome == TaskOutcome.DECEASED:
            await self._start_hold("deceased", f"task:{task.task_id}")
        elif outcome == TaskOutcome.BANKRUPT:
            await self._start_hold("bankrupt", f"task:{task.task_id}")
        elif outcome == TaskOutcome.PAYMENT_CONFIRMED:
            assert completion.amount_cop is not None and completion.reference is not None
            # The verified payment goes through the payment path (deduped by reference).
            await self.payment_received(
                PaymentReceived(
                    amount_cop=completion.amount_cop,
                    reference=completion.reference,
                    paid_at=workflow.now(),
                    source="agent_verification",
                )
            )
        elif outcome == TaskOutcome.DISPUTE_UPHELD:
            await self._finish(Outcome.CANCELLED, "dispute_upheld")
            return False
        # wrong_number (marked in Postgres with the completion), no_answer, left_message,
        # payment_not_found, dispute_rejected: logged; the strategy goes on.
        return True

    def _jump_to_escalation(self, reason: str) -> bool:
        """Skips the rest of the stage, as a broken promise does; False when none is ahead."""
        escalation = self._strategy.next_escalation_index(self._state.step_index)
        if escalation is None:
            return False
        self._state.step_index = escalation
        self._state.wait_elapsed_s = 0
        self._escalation_reason = reason
        return True

    async def _open_task(
        self,
        kind: TaskKind,
        *,
        team: str,
        sla: timedelta,
        priority: str,
        step_id: str | None,
        origin: TaskOrigin,
        not_before: datetime | None = None,
        parent_task_id: str | None = None,
    ) -> OpenTask:
        now = workflow.now()
        task = OpenTask(
            task_id="T-" + workflow.uuid4().hex[:16],
            kind=kind,
            team=team,
            step_id=step_id,
            origin=origin,
            opened_at=now,
            not_before=not_before,
            due_at=(not_before or now) + sla,
            sla_s=sla.total_seconds(),
            parent_task_id=parent_task_id,
        )
        promise = self._state.promise
        score = priority_score(
            priority,
            balance_cop=self._state.balance_cop,
            days_past_due=self._days_past_due(),
            promise_due_at=promise.due_at if promise else None,
            now=now,
        )
        self._state.task = task
        self._state.tasks_opened += 1
        detail: dict[str, Any] = {
            "step": step_id,
            "task_id": task.task_id,
            "task_kind": kind.value,
            "team": team,
            "priority": priority,
            "score": score,
            "origin": origin,
            "due_at": _iso(task.due_at),
            "not_before": _iso(not_before) if not_before else None,
            "parent_task_id": parent_task_id,
        }
        await self._record(
            "task_opened",
            detail,
            task=TaskChange(
                action="open",
                task_id=task.task_id,
                kind=kind,
                team=team,
                step_id=step_id,
                origin=origin,
                priority=priority,
                score=score,
                due_at=task.due_at,
                not_before=not_before,
                parent_task_id=parent_task_id,
            ),
        )
        return task

    async def _await_task(
        self, task: OpenTask, *, held: bool
    ) -> Literal["completed", "expired", "stop", "resolved"]:
        """Waits for the task's completion, raced against its SLA and what ends the wait.

        Agents keep working while ops pause an account, so a pause does not end this wait. An
        earlier promise falling due ends a step's task (the broken promise escalates); a held
        account's review is not ended by it.
        """

        def ended() -> Literal["completed", "stop", "resolved"] | None:
            current = self._state.task
            if current is not None and current.completion is not None:
                return "completed"
            if self._must_stop():
                return "stop"
            hold = self._state.hold
            if held and (hold is None or hold.resolution is not None):
                return "resolved"
            if not held and (hold is not None or self._promise_deadline_passed()):
                return "stop"
            return None

        while True:
            result = ended()
            if result is not None:
                return result
            current = self._state.task
            assert current is not None and current.task_id == task.task_id
            now = workflow.now()
            if now >= current.due_at:
                return "expired"
            wake = current.due_at
            promise = self._state.promise
            if not held and promise is not None and promise.deadline < wake:
                wake = promise.deadline
            self._next_wake_up = wake
            try:
                # A new promise moves the wake-up: wake to recompute it.
                await self._rest(
                    lambda watched=promise: (  # type: ignore[misc]
                        ended() is not None or self._state.promise is not watched
                    ),
                    timeout=wake - now,
                )
            except TimeoutError:
                pass
            finally:
                self._next_wake_up = None

    def _retire_task(self) -> TaskCompletion:
        task = self._state.task
        assert task is not None and task.completion is not None
        self._forget_task(task)
        return task.completion

    def _forget_task(self, task: OpenTask) -> None:
        self._state.task = None
        self._state.closed_task_ids = [*self._state.closed_task_ids[-19:], task.task_id]

    async def _reassign_task(self, task: OpenTask) -> None:
        now = workflow.now()
        renewed = task.model_copy(
            update={
                "due_at": now + timedelta(seconds=task.sla_s),
                "reassignments": task.reassignments + 1,
            }
        )
        self._state.task = renewed
        await self._record(
            "task_sla_expired",
            {
                "task_id": task.task_id,
                "task_kind": task.kind.value,
                "action": "reassigned",
                "reassignments": renewed.reassignments,
                "due_at": _iso(renewed.due_at),
            },
            task=TaskChange(
                action="reassign",
                task_id=task.task_id,
                kind=task.kind,
                team=task.team,
                due_at=renewed.due_at,
                reassignments=renewed.reassignments,
            ),
        )

    async def _expire_task(self, task: OpenTask, *, escalate: bool) -> bool:
        """The SLA passed for good; True when the strategy simply goes on."""
        self._forget_task(task)
        jumped = escalate and self._jump_to_escalation("task_sla_expired")
        await self._record(
            "task_sla_expired",
            {
                "task_id": task.task_id,
                "task_kind": task.kind.value,
                "action": "escalated" if jumped else "expired",
                "reassignments": task.reassignments,
                "escalates_to_step": (
                    self._strategy.steps[self._state.step_index].id if jumped else None
                ),
            },
            task=TaskChange(
                action="expire",
                task_id=task.task_id,
                kind=task.kind,
                team=task.team,
                reason="sla_expired",
            ),
        )
        return not jumped

    async def _close_task(self, task: OpenTask, reason: str) -> None:
        self._forget_task(task)
        await self._record(
            "task_closed",
            {"task_id": task.task_id, "task_kind": task.kind.value, "reason": reason},
            task=TaskChange(
                action="close", task_id=task.task_id, kind=task.kind, team=task.team, reason=reason
            ),
        )

    def _interruption(self) -> str:
        if self._state.balance_cop <= 0:
            return "balance_covered"
        if self._state.cancel_requested is not None:
            return "cancel_requested"
        if self._state.hold is not None:
            return "account_on_hold"
        return "promise_deadline_passed"

    # --- payment agreements ----------------------------------------------------------------------

    async def _start_agreement(self, task: OpenTask, completion: TaskCompletion) -> None:
        assert completion.amount_cop is not None
        replaced = self._state.promise
        self._state.agreement = AgreementState(
            task_id=task.task_id,
            total_cop=completion.amount_cop,
            installments=list(completion.installments),
            registered_at=workflow.now(),
        )
        await self._record(
            "agreement_registered",
            {
                "task_id": task.task_id,
                "total_cop": completion.amount_cop,
                "installments": [
                    {"due_at": _iso(i.due_at), "amount_cop": i.amount_cop}
                    for i in completion.installments
                ],
                "replaces_promise_due_at": _iso(replaced.due_at) if replaced else None,
            },
        )

    async def _follow_agreement(self) -> bool:
        """Each installment in turn is the open promise; one missed breaks the agreement."""
        while True:
            agreement = self._state.agreement
            assert agreement is not None
            promise = self._state.promise
            if agreement.open and promise is None:
                # The payment handler closed the installment's promise as kept.
                agreement = agreement.model_copy(update={"kept": agreement.kept + 1, "open": False})
                self._state.agreement = agreement
            elif agreement.open and promise is not None and promise.source != "agreement":
                self._state.agreement = None
                await self._record(
                    "agreement_superseded",
                    {
                        "task_id": agreement.task_id,
                        "kept": agreement.kept,
                        "source": promise.source,
                    },
                )
                return True
            if not agreement.open and agreement.kept == len(agreement.installments):
                self._state.agreement = None
                await self._record(
                    "agreement_kept",
                    {
                        "task_id": agreement.task_id,
                        "total_cop": agreement.total_cop,
                        "installments": agreement.kept,
                    },
                )
                if self._must_stop():
                    return False  # the balance is covered: the collection ends as paid
                await self._finish(Outcome.SETTLED, "agreement_kept")
                return False
            if self._must_stop() or self._state.hold is not None:
                return False
            if not agreement.open:
                await self._open_installment(agreement)
                continue
            assert promise is not None
            now = workflow.now()
            if now >= promise.deadline:
                await self._break_agreement()
                return False
            self._next_wake_up = promise.deadline
            try:
                await self._rest(
                    lambda watched=promise: (  # type: ignore[misc]
                        self._state.promise is not watched
                        or self._must_stop()
                        or self._state.hold is not None
                    ),
                    timeout=promise.deadline - now,
                )
            except TimeoutError:
                pass
            finally:
                self._next_wake_up = None

    async def _open_installment(self, agreement: AgreementState) -> None:
        number = agreement.kept
        installment = agreement.installments[number]
        promise = OpenPromise(
            amount_cop=installment.amount_cop,
            due_at=installment.due_at,
            deadline=installment.due_at + self._grace_ahead(),
            registered_at=workflow.now(),
            source="agreement",
        )
        self._state.promise = promise
        self._state.agreement = agreement.model_copy(update={"open": True})
        await self._record(
            "promise_registered",
            {
                "amount_cop": promise.amount_cop,
                "due_at": _iso(promise.due_at),
                "deadline": _iso(promise.deadline),
                "source": "agreement",
                "task_id": agreement.task_id,
                "installment": number + 1,
                "installments": len(agreement.installments),
            },
        )

    async def _break_agreement(self) -> None:
        agreement, promise = self._state.agreement, self._state.promise
        assert agreement is not None and promise is not None
        self._state.agreement = None
        await self._record(
            "agreement_broken",
            {
                "task_id": agreement.task_id,
                "installment": agreement.kept + 1,
                "installments": len(agreement.installments),
                "due_at": _iso(promise.due_at),
                "paid_toward_cop": promise.paid_toward_cop,
            },
        )
        await self._promise_broken(promise)

    # --- holds: disputes, deceased, bankrupt -----------------------------------------------------

    async def _start_hold(
        self, reason: HoldReason, source: str, case_reference: str | None = None
    ) -> None:
        self._state.hold = AccountHold(reason=reason, opened_at=workflow.now(), source=source)
        await self._record(
            "hold_started",
            {"reason": reason, "source": source, "case_reference": case_reference},
        )

    async def _release_hold(self, resolution: str, source: str, *, finish: bool = False) -> None:
        hold = self._state.hold
        assert hold is not None
        self._state.hold = None
        await self._record(
            "hold_released",
            {"reason": hold.reason, "resolution": resolution, "source": source},
        )
        promise = self._state.promise
        if (
            not finish
            and self._state.agreement is not None
            and promise is not None
            and workflow.now() >= promise.deadline
        ):
            # An installment fell due during the hold: the agreement is broken now.
            await self._break_agreement()

    async def _hold(self) -> None:
        """One round of a held account: its review task, then whatever the reviewer decided.

        Nothing else runs meanwhile (no step, so no contact); a review task whose SLA passes
        goes back to the supervisors' queue, never escalating a held account.
        """
        hold = self._state.hold
        assert hold is not None
        task = self._state.task
        if task is None and hold.resolution is None:
            task = await self._open_task(
                TaskKind.REVIEW_DISPUTE if hold.reason == "dispute" else TaskKind.SUPERVISOR_REVIEW,
                team=self._strategy.supervisor_team,
                sla=self._strategy.supervisor_sla,
                priority="high",
                step_id=None,
                origin=hold.reason,
            )
        event = await self._await_task(task, held=True) if task is not None else "resolved"
        if event == "stop":
            assert task is not None
            await self._close_task(task, self._interruption())
            return
        if event == "expired":
            assert task is not None
            await self._reassign_task(task)
            return
        if event == "resolved":
            current = self._state.hold
            if task is not None:
                await self._close_task(task, "resolved_by_signal")
            if current is None or current.resolution is None:
                return
            resolution = current.resolution
            source = f"signal:{resolution.resolved_by}"
            if resolution.resolution == "upheld":
                await self._release_hold("dispute_upheld", source, finish=True)
                await self._finish(Outcome.CANCELLED, "dispute_upheld")
            else:
                await self._release_hold("dispute_rejected", source)
            return
        assert task is not None
        completion = self._retire_task()
        source = f"task:{task.task_id}"
        outcome = completion.outcome
        if outcome in (TaskOutcome.DISPUTE_UPHELD, TaskOutcome.CLOSE_COLLECTION):
            await self._release_hold(outcome.value, source, finish=True)
            reason = "dispute_upheld" if hold.reason == "dispute" else hold.reason
            await self._finish(Outcome.CANCELLED, reason)
        elif outcome == TaskOutcome.HAND_TO_LEGAL:
            await self._release_hold(outcome.value, source, finish=True)
            await self._finish(Outcome.HANDED_TO_LEGAL, hold.reason)
        else:
            await self._release_hold(outcome.value, source)

    # --- task completions and disputes: update, signals, query -----------------------------------

    @workflow.update
    async def complete_task(self, completion: TaskCompletion) -> CompletionReceipt:
        """An agent's completion; the receipt says accepted, rejected (with why) or stale.

        No validator on purpose: every verdict, a rejection too, is written to the log.
        """
        return await self._receive_completion(completion)

    @workflow.signal
    async def task_completed(self, completion: TaskCompletion) -> None:
        """The same as `complete_task`, for senders that can only signal."""
        await self._receive_completion(completion)

    async def _receive_completion(self, completion: TaskCompletion) -> CompletionReceipt:
        task = self._state.task
        base: dict[str, Any] = {
            "task_id": completion.task_id,
            "agent_id": completion.agent_id,
            "outcome": completion.outcome.value,
        }
        stale: str | None = None
        if self._state.outcome is not None:
            stale = "collection_closed"
        elif task is None or task.task_id != completion.task_id:
            known = completion.task_id in self._state.closed_task_ids
            stale = "already_closed" if known else "not_open"
        elif task.completion is not None:
            stale = "duplicate"
        if stale is not None or task is None:
            reason = stale or "not_open"
            await self._record("task_completion_stale", {**base, "reason": reason})
            return CompletionReceipt(task_id=completion.task_id, status="stale", reason=reason)
        problems = completion_problems(completion, self._completion_context(task.kind))
        if problems:
            await self._record(
                "task_completion_rejected",
                {
                    **base,
                    "problems": [p.code for p in problems],
                    "fields": [p.field for p in problems],
                },
            )
            return CompletionReceipt(
                task_id=completion.task_id, status="rejected", problems=problems
            )
        # Taken synchronously, before any await: a second completion now finds it a duplicate.
        self._state.task = task.model_copy(update={"completion": completion})
        await self._record(
            "task_completed",
            {
                **base,
                "task_kind": task.kind.value,
                "effect": OUTCOME_EFFECTS[completion.outcome],
                "note_id": completion.note_id,
                **completion_fields(completion),
            },
            task=TaskChange(
                action="complete",
                task_id=task.task_id,
                kind=task.kind,
                team=task.team,
                completion=completion,
            ),
        )
        return CompletionReceipt(task_id=completion.task_id, status="accepted")

    def _completion_context(self, kind: TaskKind) -> CompletionContext:
        now = workflow.now()
        return CompletionContext(
            task_kind=kind,
            balance_cop=self._state.balance_cop,
            now=now,
            promise_horizon_until=now + self._strategy.promise_max_horizon,
            agreement_horizon_until=now + self._strategy.agreement_max_horizon,
            agreement_max_installments=self._strategy.agreement_max_installments,
            contact_rules=self._input.contact_rules,
        )

    @workflow.signal
    async def dispute_opened(self, notice: DisputeNotice) -> None:
        if self._state.outcome is not None or self._state.hold is not None:
            await self._record(
                "dispute_ignored",
                {
                    "opened_by": notice.opened_by,
                    "case_reference": notice.case_reference,
                    "reason": "collection_closed" if self._state.outcome else "already_held",
                },
            )
            return
        await self._start_hold("dispute", f"signal:{notice.opened_by}", notice.case_reference)

    @workflow.signal
    async def dispute_resolved(self, resolution: DisputeResolution) -> None:
        hold = self._state.hold
        if (
            self._state.outcome is not None
            or hold is None
            or hold.reason != "dispute"
            or hold.resolution is not None
        ):
            await self._record(
                "dispute_resolution_ignored",
                {
                    "resolution": resolution.resolution,
                    "resolved_by": resolution.resolved_by,
                    "case_reference": resolution.case_reference,
                    "reason": "no_open_dispute",
                },
            )
            return
        self._state.hold = hold.model_copy(update={"resolution": resolution})

    @workflow.query
    def task_view(self) -> TaskView:
        context = self._completion_context(TaskKind.CALL)
        return TaskView(
            account_id=self._input.account_id,
            workflow_id=workflow.info().workflow_id,
            now=context.now,
            balance_cop=self._state.balance_cop,
            outcome=self._state.outcome,
            task=self._state.task,
            hold=self._state.hold,
            agreement=self._state.agreement,
            promise_horizon_until=context.promise_horizon_until,
            agreement_horizon_until=context.agreement_horizon_until,
            agreement_max_installments=context.agreement_max_installments,
            contact_rules=context.contact_rules,
        )

    # --- helpers ---------------------------------------------------------------------------------

    def _must_stop(self) -> bool:
        return self._state.balance_cop <= 0 or self._state.cancel_requested is not None

    def _step_interrupted(self) -> bool:
        """What makes a step in progress yield to the main loop (which settles it)."""
        return (
            self._must_stop()
            or self._state.paused
            or self._promise_deadline_passed()
            or self._state.hold is not None
        )

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
        hold_before = self._state.hold
        try:
            await self._rest(
                lambda: (
                    self._must_stop()
                    or self._state.paused
                    or self._state.promise is not promise_before
                    or self._state.hold is not hold_before
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

    async def _rest(self, condition: Callable[[], bool], timeout: timedelta | None = None) -> None:
        """Every wait of the workflow (timer, signal, task, pause) goes through here.

        The coarse search attributes are published as the workflow comes to rest, so a burst of
        steps that changes the stage three times costs one visibility write, not three; each of
        those steps still has its log row, which is what lists and dashboards read.
        """
        if self._sa_at_rest:
            self._publish_search_attributes()
        await workflow.wait_condition(condition, timeout=timeout)

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
        self,
        kind: str,
        detail: dict[str, Any],
        *,
        contact: ContactStep | None = None,
        reservation: ReservationRequest | None = None,
        bureau: Literal["notice", "report"] | None = None,
        task: TaskChange | None = None,
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
                assert reservation is not None
                sent: ContactResult = await workflow.execute_activity_method(
                    ContactActivities.send_contact,
                    ContactCommand(
                        entry=entry,
                        reservation=reservation,
                        channel=contact.channel,
                        template=contact.template,
                        reply_promise_after_s=self._strategy.reply_promise_after.total_seconds(),
                    ),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                )
                if not sent.logged:
                    # The gate wrote nothing: the number goes to the deferral or refusal row.
                    self._state.seq -= 1
                return sent
            if task is not None:
                return await workflow.execute_activity_method(
                    TaskActivities.record_task_step,
                    TaskCommand(entry=entry, change=task),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                )
            if bureau is not None:
                return await workflow.execute_activity_method(
                    BureauActivities.record_bureau_message,
                    BureauCommand(entry=entry, kind=bureau),
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
