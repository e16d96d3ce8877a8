"""Messages that cross the workflow boundary: inputs, signals, queries, activity payloads.

Nothing here carries personal data: accounts are named by their internal id, debtors by an opaque
key; names, documents, phones and emails stay in Postgres (see `debtors`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PositiveInt

from cobranza.domain import Channel, Outcome, Stage
from cobranza.strategy import Strategy

AccountId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
PaymentReference = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:/-]{1,64}$")]
Actor = Annotated[str, Field(min_length=1, max_length=64)]


def workflow_id_for(account_id: str) -> str:
    return f"collection-{account_id}"


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- signals -------------------------------------------------------------------------------------


class PaymentReceived(_Message):
    amount_cop: PositiveInt
    reference: PaymentReference
    paid_at: AwareDatetime
    source: Actor = "core_banking"


class PromiseToPay(_Message):
    amount_cop: PositiveInt
    due_at: AwareDatetime
    source: Actor = "cli"


class ControlRequest(_Message):
    """Pause, resume or cancel, with who asked and why (auditors read both)."""

    requested_by: Actor = "ops"
    reason: str = Field(default="", max_length=500)


# --- state ---------------------------------------------------------------------------------------


class OpenPromise(_Message):
    amount_cop: int
    due_at: datetime
    deadline: datetime  # due_at plus the grace of the promise check that watches it
    registered_at: datetime
    paid_toward_cop: int = 0
    source: str


class CollectionState(BaseModel):
    """Everything the workflow knows; carried whole across continue-as-new."""

    model_config = ConfigDict(extra="forbid")

    stage: Stage
    step_index: int
    seq: int = 0
    balance_cop: int
    paid_cop: int = 0
    payment_references: list[str] = Field(default_factory=list)
    promise: OpenPromise | None = None
    promises_kept: int = 0
    promises_broken: int = 0
    contacts_sent: int = 0
    paused: bool = False
    cancel_requested: ControlRequest | None = None
    # Strategy-clock time already spent in the current wait step (pause stops this clock).
    wait_elapsed_s: float = 0.0
    outcome: Outcome | None = None
    opened_at: datetime | None = None
    # Days past due as of opened_at; the current value grows with workflow time.
    days_past_due_at_open: int = 0


class CollectionInput(_Message):
    account_id: AccountId
    campaign_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    strategy: Strategy
    balance_cop: PositiveInt
    days_past_due: int = Field(ge=0)
    product: str = Field(min_length=1, max_length=64)
    # Set only by continue-as-new.
    state: CollectionState | None = None


class CollectionResult(_Message):
    account_id: str
    outcome: Outcome
    stage: Stage
    balance_cop: int
    paid_cop: int
    steps_logged: int


class CollectionStatus(_Message):
    account_id: str
    workflow_id: str
    campaign_id: str | None
    strategy: str
    strategy_version: str
    stage: Stage
    balance_cop: int
    original_balance_cop: int
    paid_cop: int
    days_past_due: int
    step_index: int
    step_id: str | None
    step_kind: str | None
    paused: bool
    open_promise: OpenPromise | None
    promises_kept: int
    promises_broken: int
    contacts_sent: int
    outcome: Outcome | None
    next_wake_up: datetime | None
    steps_logged: int
    # The latest due date a new promise may have under the strategy's horizon.
    promise_horizon_until: datetime


# --- the step log --------------------------------------------------------------------------------


class LogEntry(_Message):
    """One step as the workflow decided it; the activity input is exactly the row written."""

    account_id: str
    workflow_id: str
    run_id: str
    collection_id: str
    seq: PositiveInt
    kind: str
    stage: Stage
    detail: dict[str, Any]
    occurred_at: AwareDatetime
    # Read-model fields, kept current in the same transaction as the row.
    campaign_id: str | None
    strategy: str
    balance_cop: int
    original_balance_cop: int
    outcome: Outcome | None = None


class LogReceipt(_Message):
    seq: int
    hash: str
    inserted: bool  # False when a retry found the row already written


class ContactCommand(_Message):
    entry: LogEntry
    channel: Channel
    template: str
    # Lets the simulated provider offer the self-service promise with the strategy's horizon.
    reply_promise_after_s: float


class DebtorReply(_Message):
    kind: Literal["promise_to_pay", "acknowledged", "requests_information"]
    amount_cop: int | None = None


class ContactResult(_Message):
    status: Literal["delivered", "failed", "no_destination"]
    provider_message_id: str | None = None
    reply: DebtorReply | None = None
    inserted: bool
