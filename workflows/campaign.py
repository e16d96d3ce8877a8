"""CampaignWorkflow: the durable fan-out of one campaign, and the inbox a schedule runs.

Workflow id ``campaign-<campaign_id>``. Each run reads one page of not-yet-started accounts from
Postgres, starts them through activities in a sliding window of batches (bounded in-flight
starts), then continues-as-new with its small state, so the history stays the same size for ten
thousand accounts or half a million. A worker that dies mid-way loses nothing: the pending page
activity and the in-flight batches are retried, and the batches' exactly-once rules (see
activities/campaign.py) keep every account started once.

Accounts start through activities that call client.start_workflow in batches, not as child
workflows: that keeps the fan-out near the server's start ceiling and the campaign's history
small (activities/campaign.py says why, with the figures).

Once every account is started the campaign stays open, idle, to carry pause / resume / cancel to
its accounts, and completes when every collection it started has closed. Controls are a workflow
update: the caller gets the count of accounts reached when the propagation is over.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.campaign import CampaignActivities
    from activities.portfolio_import import InboxActivities
    from cobranza.campaign_models import (
        AccountToStart,
        CampaignControl,
        CampaignInput,
        CampaignProgress,
        CampaignResult,
        CampaignState,
        CampaignStatus,
        CampaignStatusUpdate,
        ControlResult,
        InboxFileImport,
        InboxFileResult,
        InboxInput,
        InboxResult,
        PageRequest,
        SignalCommand,
        StartBatch,
    )

# Infrastructure failures only reach these activities (business outcomes are results), so they
# retry until they succeed; a stuck one shows in the UI with its last error.
FOREVER = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
SHORT = timedelta(minutes=1)
# A watching run continues-as-new after this many checks (each adds ~10 events).
WATCH_CHECKS_PER_RUN = 100


@workflow.defn(name="CampaignWorkflow")
class CampaignWorkflow:
    @workflow.init
    def __init__(self, input: CampaignInput) -> None:
        self._input = input
        self._options = input.options
        self._state = input.state.model_copy(deep=True) if input.state else CampaignState()
        self._in_flight = 0
        self._control_lock = asyncio.Lock()

    @workflow.run
    async def run(self, input: CampaignInput) -> CampaignResult:
        state = self._state
        if input.state is None:
            await self._set_status("starting")
        while state.phase == "starting" and not state.cancelled:
            if not await self._start_next_page():
                break
            if not state.cancelled:
                await self._continue_as_new()
        if state.phase == "starting" and not state.cancelled:
            state.phase = "watching"
            await self._set_status("started")
        checks = 0
        while state.phase == "watching" and not state.cancelled:
            opened = await workflow.execute_activity_method(
                CampaignActivities.open_count,
                input.campaign_id,
                start_to_close_timeout=SHORT,
                retry_policy=FOREVER,
            )
            if opened.open == 0:
                break
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: state.cancelled, timeout=self._options.watch_interval
                )
            checks += 1
            if checks >= WATCH_CHECKS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
        await workflow.wait_condition(workflow.all_handlers_finished)
        outcome: CampaignStatus = "cancelled" if state.cancelled else "completed"
        state.phase = "done"
        state.outcome = outcome
        await self._set_status(outcome)
        return CampaignResult(
            campaign_id=input.campaign_id,
            status=outcome,
            started=state.started,
            skipped=state.skipped,
            failed=state.failed,
        )

    # --- fan-out ---------------------------------------------------------------------------------

    async def _start_next_page(self) -> bool:
        """Start one page of pending accounts; False when none were left (or on cancel)."""
        state = self._state
        await workflow.wait_condition(lambda: not state.paused or state.cancelled)
        if state.cancelled:
            return False
        page = await workflow.execute_activity_method(
            CampaignActivities.fetch_page,
            PageRequest(
                campaign_id=self._input.campaign_id,
                after_line=state.after_line,
                after_account=state.after_account,
                limit=self._options.page_size,
            ),
            start_to_close_timeout=SHORT,
            retry_policy=FOREVER,
        )
        # Postgres is the ledger: take its counters, then add this page's batches as they land.
        counts = page.counts
        state.total, state.started = counts.total, counts.started
        state.skipped, state.failed = counts.skipped, counts.failed
        if not page.accounts:
            return False
        size = self._options.batch_size
        window = self._options.max_batches_in_flight
        batches: list[asyncio.Task[None]] = []
        for first in range(0, len(page.accounts), size):
            # The sliding window: a new batch goes out as soon as one comes back.
            await workflow.wait_condition(
                lambda: state.cancelled or (not state.paused and self._in_flight < window)
            )
            if state.cancelled:
                break
            self._in_flight += 1
            batches.append(
                asyncio.create_task(self._start_batch(page.accounts[first : first + size]))
            )
        await asyncio.gather(*batches)
        last = page.accounts[-1]
        state.after_line, state.after_account = last.line, last.account_id
        return True

    async def _start_batch(self, accounts: list[AccountToStart]) -> None:
        try:
            result = await workflow.execute_activity_method(
                CampaignActivities.start_accounts,
                StartBatch(
                    campaign_id=self._input.campaign_id,
                    strategy=self._input.strategy,
                    task_queue=self._input.account_task_queue,
                    concurrency=self._options.starts_per_batch,
                    accounts=accounts,
                ),
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=self._options.heartbeat_timeout,
                retry_policy=FOREVER,
            )
        finally:
            self._in_flight -= 1
        self._state.started += result.started
        self._state.skipped += result.skipped
        self._state.failed += result.failed

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        state = self._state.model_copy(update={"runs": self._state.runs + 1})
        workflow.continue_as_new(self._input.model_copy(update={"state": state}))

    async def _set_status(self, status: CampaignStatus) -> None:
        counts = await workflow.execute_activity_method(
            CampaignActivities.set_status,
            CampaignStatusUpdate(
                campaign_id=self._input.campaign_id,
                status=status,
                workflow_id=workflow.info().workflow_id,
            ),
            start_to_close_timeout=SHORT,
            retry_policy=FOREVER,
        )
        state = self._state
        state.total, state.started = counts.total, counts.started
        state.skipped, state.failed = counts.skipped, counts.failed

    # --- controls and progress -------------------------------------------------------------------

    @workflow.update
    async def control(self, command: CampaignControl) -> ControlResult:
        """Pause, resume or cancel the campaign and every account it started."""
        state = self._state
        async with self._control_lock:
            if command.action == "pause":
                state.paused = True
            elif command.action == "cancel":
                state.cancelled = True
            # Starts in flight finish first, so every account they start hears this control.
            await workflow.wait_condition(lambda: self._in_flight == 0)
            state.control_seq += 1
            totals = await workflow.execute_activity_method(
                CampaignActivities.signal_accounts,
                SignalCommand(
                    campaign_id=self._input.campaign_id,
                    seq=state.control_seq,
                    action=command.action,
                    requested_by=command.requested_by,
                    reason=command.reason,
                    concurrency=self._options.signal_concurrency,
                ),
                start_to_close_timeout=timedelta(hours=6),
                heartbeat_timeout=timedelta(minutes=1),
                retry_policy=FOREVER,
            )
            if command.action in ("resume", "cancel"):
                state.paused = False
            return ControlResult(
                campaign_id=self._input.campaign_id,
                action=command.action,
                seq=state.control_seq,
                signalled=totals.signalled,
                already_closed=totals.already_closed,
                not_started=totals.not_started,
            )

    @control.validator
    def _validate_control(self, command: CampaignControl) -> None:
        state = self._state
        if state.cancelled:
            raise ApplicationError("campaign was cancelled", type="CampaignCancelled")
        if state.phase == "done":
            raise ApplicationError("campaign has finished", type="CampaignFinished")
        if command.action == "pause" and state.paused:
            raise ApplicationError("campaign is already paused", type="CampaignAlreadyPaused")
        if command.action == "resume" and not state.paused:
            raise ApplicationError("campaign is not paused", type="CampaignNotPaused")

    @workflow.query
    def progress(self) -> CampaignProgress:
        state = self._state
        return CampaignProgress(
            campaign_id=self._input.campaign_id,
            phase=state.phase,
            total=state.total,
            started=state.started,
            skipped=state.skipped,
            failed=state.failed,
            pending=max(0, state.total - state.started - state.skipped - state.failed),
            paused=state.paused,
            cancelled=state.cancelled,
            runs=state.runs,
            in_flight_batches=self._in_flight,
        )


@workflow.defn(name="CampaignInboxWorkflow")
class CampaignInboxWorkflow:
    """One scheduled pass over an inbox folder: import and launch each new portfolio file."""

    @workflow.run
    async def run(self, input: InboxInput) -> InboxResult:
        files = await workflow.execute_activity_method(
            InboxActivities.scan_inbox,
            input,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=FOREVER,
        )
        results: list[InboxFileResult] = []
        for file in files:
            result = await workflow.execute_activity_method(
                InboxActivities.import_inbox_file,
                InboxFileImport(inbox=input, file=file),
                start_to_close_timeout=timedelta(hours=1),
                heartbeat_timeout=timedelta(minutes=1),
                retry_policy=FOREVER,
            )
            results.append(result)
        return InboxResult(files=results)
