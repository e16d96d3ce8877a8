"""Messages that cross the workflow boundary: inputs, signals, queries, activity payloads.

Nothing here carries personal data: accounts are named by their internal id, debtors by an opaque
key; names, documents, phones and emails stay in Postgres (see `debtors`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationInfo,
    model_validator,
)

from cobranza.compliance import (
    BureauRules,
    ContactAttempt,
    ContactDecision,
    ContactRules,
    load_bureau_rules,
    load_contact_rules,
)
from cobranza.domain import (
    Channel,
    MessagePurpose,
    Outcome,
    RecipientRole,
    Stage,
    TaskKind,
    TaskOutcome,
)
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


# --- human tasks: agents' completions and disputes ------------------------------------------------

# Deterministic per workflow (workflow.uuid4), short enough to type at the command line.
TaskId = Annotated[str, Field(pattern=r"^T-[0-9a-f]{16}$")]
# Opaque staff codes (e.g. "gestor-017"); agents' names stay in the agents table.
AgentId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class Installment(_Message):
    due_at: AwareDatetime
    amount_cop: PositiveInt


class TaskCompletion(_Message):
    """An agent's result for one task. A note's text stays in Postgres; only its id travels."""

    task_id: TaskId
    agent_id: AgentId
    outcome: TaskOutcome
    amount_cop: PositiveInt | None = None
    due_at: AwareDatetime | None = None
    installments: list[Installment] = Field(default_factory=list, max_length=60)
    call_back_at: AwareDatetime | None = None
    reference: PaymentReference | None = None
    note_id: PositiveInt | None = None


class CompletionProblem(_Message):
    code: str
    field: str
    message: str  # Spanish, for the agent


class CompletionReceipt(_Message):
    task_id: str
    status: Literal["accepted", "rejected", "stale"]
    # Why a completion is stale: not_open, already_closed, duplicate, collection_closed.
    reason: str | None = None
    problems: list[CompletionProblem] = Field(default_factory=list)


class DisputeNotice(_Message):
    """A dispute (reclamo) filed outside a call; `case_reference` is the complaint's number."""

    opened_by: Actor = "ops"
    case_reference: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:/-]{1,64}$")


class DisputeResolution(_Message):
    resolution: Literal["upheld", "rejected"]
    resolved_by: Actor = "ops"
    case_reference: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:/-]{1,64}$")


# --- state ---------------------------------------------------------------------------------------

TaskOrigin = Literal["step", "already_paid", "call_back", "dispute", "deceased", "bankrupt"]
HoldReason = Literal["dispute", "deceased", "bankrupt"]


class OpenTask(_Message):
    """The one human task the workflow is waiting for."""

    task_id: str
    kind: TaskKind
    team: str
    step_id: str | None  # None for a hold opened by a signal
    origin: TaskOrigin
    opened_at: datetime
    not_before: datetime | None = None
    due_at: datetime  # SLA deadline
    sla_s: float
    reassignments: int = 0
    parent_task_id: str | None = None
    # An accepted completion the workflow has not acted on yet.
    completion: TaskCompletion | None = None


class AccountHold(_Message):
    """No step (so no contact) runs while an account is held; a review task decides."""

    reason: HoldReason
    opened_at: datetime
    source: str
    # Set by the dispute_resolved signal; the hold loop acts on it.
    resolution: DisputeResolution | None = None


class AgreementState(_Message):
    """A payment agreement: each installment in turn is the open promise."""

    task_id: str
    total_cop: int
    installments: list[Installment]
    kept: int = 0
    # True while installment number `kept` is registered as the open promise.
    open: bool = False
    registered_at: datetime


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
    # This account's own recent contacts, for the in-workflow calendar check (the per-debtor gate
    # sees every account of the person).
    contact_history: list[ContactAttempt] = Field(default_factory=list)
    contact_attempts: int = 0
    contacts_deferred: int = 0
    contacts_refused: int = 0
    waiting_for_window_until: datetime | None = None
    bureau_notices: list[datetime] = Field(default_factory=list)
    bureau_reported: bool = False
    # Days past due as of opened_at; the current value grows with workflow time.
    days_past_due_at_open: int = 0
    # Human tasks: the one open task, a hold (dispute, deceased, bankrupt), an agreement.
    task: OpenTask | None = None
    hold: AccountHold | None = None
    agreement: AgreementState | None = None
    tasks_opened: int = 0
    # Recently closed task ids, so a late completion is logged as stale with its reason.
    closed_task_ids: list[str] = Field(default_factory=list)


# The collection engine's behaviour version. A run keeps the version it started with (in its input,
# and through continue-as-new), so its history replays the way it ran:
#   1: search attributes published after every step (runs started before December 2026);
#   2: published as the workflow comes to rest (a timer, a signal, a task), once per burst of steps.
# Versioned through the input rather than `workflow.patched`: a patch costs every run a marker and
# a search-attribute upsert (a visibility write: ~9 ms of server CPU per run on the dev server).
ENGINE_VERSION = 2


class CollectionInput(_Message):
    account_id: AccountId
    campaign_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    strategy: Strategy
    # Snapshot of the contact rules at start: a rule change for new accounts never changes a
    # decision replayed from this account's history. Filled from the strategy when omitted.
    contact_rules: ContactRules = Field(default_factory=load_contact_rules)
    bureau_rules: BureauRules = Field(default_factory=load_bureau_rules)
    # Prior, express authorization to report to credit bureaus is on file (Ley 1266 de 2008).
    bureau_authorized: bool = False
    balance_cop: PositiveInt
    days_past_due: int = Field(ge=0)
    product: str = Field(min_length=1, max_length=64)
    # Set only by continue-as-new.
    state: CollectionState | None = None
    # An input built in Python is a new collection: the current engine. One read from JSON without
    # the field is a run recorded before versions existed: version 1 (_engine_of_new_inputs).
    engine_version: int = Field(default=1, ge=1, le=ENGINE_VERSION)

    @model_validator(mode="before")
    @classmethod
    def _engine_of_new_inputs(cls, data: Any, info: ValidationInfo) -> Any:
        if info.mode == "python" and isinstance(data, dict) and "engine_version" not in data:
            data = {**data, "engine_version": ENGINE_VERSION}
        return data

    @model_validator(mode="before")
    @classmethod
    def _rules_from_strategy(cls, data: Any) -> Any:
        # Runs where inputs are built (starter, campaign, tests), never in workflow code: the
        # serialized input always carries its rules.
        if isinstance(data, dict) and data.get("contact_rules") is None:
            strategy = data.get("strategy")
            version = (
                strategy.contact_rules_version
                if isinstance(strategy, Strategy)
                else (strategy or {}).get("contact_rules_version")
            )
            data = {**data, "contact_rules": load_contact_rules(version)}
        if isinstance(data, dict) and data.get("bureau_rules") is None:
            data = {**data, "bureau_rules": load_bureau_rules()}
        return data


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
    contact_rules_version: str
    contacts_deferred: int
    contacts_refused: int
    # Set while a contact waits for a legal window or the debtor's caps (waiting, not failing).
    waiting_for_window_until: datetime | None


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


# --- the per-debtor contact gate -----------------------------------------------------------------


class ReservationRequest(_Message):
    """Ask the debtor's gate for one contact now; the key makes a retried ask idempotent."""

    reservation_key: str
    account_id: str
    at: AwareDatetime
    channel: Channel
    recipient_role: RecipientRole
    purpose: MessagePurpose
    rules: ContactRules
    on_hold: bool = False


class ReservationResult(_Message):
    decision: ContactDecision
    granted: bool
    # Contacts the person had in the rules' look-back window, across all their accounts.
    debtor_contacts_considered: int


# --- human tasks: the step activity and the worklist's view --------------------------------------


class TaskChange(_Message):
    """What a task step does to the task's row, in the same transaction as its log row."""

    action: Literal["open", "reassign", "expire", "close", "complete"]
    task_id: str
    kind: TaskKind
    team: str
    # open
    step_id: str | None = None
    origin: TaskOrigin | None = None
    priority: str = "normal"
    score: int = 0
    due_at: datetime | None = None
    not_before: datetime | None = None
    parent_task_id: str | None = None
    # reassign
    reassignments: int = 0
    # expire, close
    reason: str | None = None
    # complete
    completion: TaskCompletion | None = None


class TaskCommand(_Message):
    entry: LogEntry
    change: TaskChange


class TaskView(_Message):
    """What an agent's completion is checked against (query `task_view`)."""

    account_id: str
    workflow_id: str
    now: datetime
    balance_cop: int
    outcome: Outcome | None
    task: OpenTask | None
    hold: AccountHold | None
    agreement: AgreementState | None
    promise_horizon_until: datetime
    agreement_horizon_until: datetime
    agreement_max_installments: int
    contact_rules: ContactRules


class ContactCommand(_Message):
    """Ask the debtor's gate and, if it grants the contact, log it and send it: one transaction
    holds the reservation, the log row and the outbox message."""

    entry: LogEntry
    reservation: ReservationRequest
    channel: Channel
    template: str
    # Lets the simulated provider offer the self-service promise with the strategy's horizon.
    reply_promise_after_s: float


class DebtorReply(_Message):
    kind: Literal["promise_to_pay", "acknowledged", "requests_information"]
    amount_cop: int | None = None


class ContactResult(_Message):
    status: Literal["delivered", "failed", "no_destination", "deferred", "refused"]
    provider_message_id: str | None = None
    reply: DebtorReply | None = None
    inserted: bool
    # False when the gate deferred or refused: nothing was written, and the step's sequence
    # number goes to the deferral or refusal row the workflow logs next.
    logged: bool = True
    decision: ContactDecision | None = None


class BureauCommand(_Message):
    """A notice or report through the bureau adapter, with its log row (one transaction)."""

    entry: LogEntry
    kind: Literal["notice", "report"]
