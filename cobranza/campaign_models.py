"""Messages of the campaign workflows: inputs, carried state, queries, updates, activity payloads.

No personal data: accounts travel by internal id with balance, days past due and product only;
names, documents and contact data stay in Postgres (`debtors`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from cobranza.durations import Duration
from cobranza.models import AccountId, Actor
from cobranza.strategy import Strategy

CAMPAIGN_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
CampaignId = Annotated[str, Field(pattern=CAMPAIGN_ID_PATTERN)]
ControlAction = Literal["pause", "resume", "cancel"]
CampaignStatus = Literal["imported", "starting", "started", "completed", "cancelled"]


def campaign_workflow_id(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


def is_valid_campaign_id(campaign_id: str) -> bool:
    return re.fullmatch(CAMPAIGN_ID_PATTERN, campaign_id) is not None


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FanoutOptions(_Message):
    """How hard the campaign pushes the server; the defaults are measured (bench/campaign_start.py)."""

    # Accounts read from Postgres per workflow run (the run continues-as-new after each page).
    page_size: int = Field(default=2000, ge=1, le=5000)
    # Accounts per start activity, and how many such activities may run at once.
    batch_size: int = Field(default=100, ge=1, le=1000)
    max_batches_in_flight: int = Field(default=4, ge=1, le=64)
    # client.start_workflow calls in flight inside one start activity.
    starts_per_batch: int = Field(default=50, ge=1, le=500)
    # Signals in flight while propagating a pause / resume / cancel.
    signal_concurrency: int = Field(default=100, ge=1, le=1000)
    # A start activity that stops heartbeating this long is retried on another worker.
    heartbeat_timeout: Duration = timedelta(seconds=15)
    # Once every account started, how often to check whether every collection has closed.
    watch_interval: Duration = timedelta(hours=1)


class AccountToStart(_Message):
    account_id: AccountId
    line: int
    balance_cop: int = Field(gt=0)
    days_past_due: int = Field(ge=0)
    product: str


class CampaignState(BaseModel):
    """What a campaign run knows; carried whole across continue-as-new."""

    model_config = ConfigDict(extra="forbid")

    phase: Literal["starting", "watching", "done"] = "starting"
    # Keyset cursor of the last page started: (line, account_id).
    after_line: int = 0
    after_account: str = ""
    total: int = 0
    started: int = 0
    skipped: int = 0
    failed: int = 0
    paused: bool = False
    cancelled: bool = False
    control_seq: int = 0
    runs: int = 1
    watch_checks: int = 0
    outcome: CampaignStatus | None = None


class CampaignInput(_Message):
    campaign_id: CampaignId
    # Snapshot: every account of the campaign runs this exact strategy, whatever happens to the file.
    strategy: Strategy
    # Where the account workflows run (the campaign's own queue is the worker's).
    account_task_queue: str = Field(min_length=1, max_length=200)
    options: FanoutOptions = FanoutOptions()
    # Set only by continue-as-new.
    state: CampaignState | None = None


class CampaignProgress(_Message):
    campaign_id: str
    phase: str
    total: int
    started: int
    skipped: int
    failed: int
    pending: int
    paused: bool
    cancelled: bool
    runs: int
    in_flight_batches: int


class CampaignResult(_Message):
    campaign_id: str
    status: CampaignStatus
    started: int
    skipped: int
    failed: int


class CampaignControl(_Message):
    action: ControlAction
    requested_by: Actor = "ops"
    reason: str = Field(default="", max_length=500)


class ControlResult(_Message):
    campaign_id: str
    action: ControlAction
    seq: int
    # Accounts whose workflow received the signal, and those already closed (nothing to do).
    signalled: int
    already_closed: int
    # Accounts not started yet: they wait (pause), start later (resume) or never (cancel).
    not_started: int


# --- activity payloads ---------------------------------------------------------------------------


class PageRequest(_Message):
    campaign_id: str
    after_line: int
    after_account: str
    limit: int


class CampaignCounts(_Message):
    """The campaign's counters as Postgres has them (exact: moved with each account's mark)."""

    total: int
    started: int
    skipped: int
    failed: int


class PendingPage(_Message):
    accounts: list[AccountToStart]
    # The counters before this page's accounts are started.
    counts: CampaignCounts


class StartBatch(_Message):
    campaign_id: str
    strategy: Strategy
    task_queue: str
    concurrency: int
    accounts: list[AccountToStart]


class StartBatchResult(_Message):
    started: int
    skipped: int
    failed: int


class SignalCommand(_Message):
    campaign_id: str
    seq: int
    action: ControlAction
    requested_by: str
    reason: str
    concurrency: int


class SignalTotals(_Message):
    signalled: int
    already_closed: int
    not_started: int


class CampaignStatusUpdate(_Message):
    campaign_id: str
    status: CampaignStatus
    workflow_id: str | None = None


class CampaignOpenCount(_Message):
    open: int


# --- scheduled inbox -----------------------------------------------------------------------------


class InboxInput(_Message):
    schedule_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,100}$")
    directory: str
    strategy_name: str
    skip_invalid: bool = False
    account_task_queue: str
    options: FanoutOptions = FanoutOptions()


class InboxFile(_Message):
    path: str
    file_name: str
    file_sha256: str
    campaign_id: CampaignId


class InboxFileImport(_Message):
    inbox: InboxInput
    file: InboxFile


class InboxFileResult(_Message):
    file_name: str
    campaign_id: str
    status: Literal["imported", "rejected", "already_processed"]
    accounts: int = 0
    detail: str = ""


class InboxResult(_Message):
    files: list[InboxFileResult]
