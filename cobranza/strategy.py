"""Collection strategies: the sequence of steps a collection follows, as validated data.

A strategy is loaded from a bundled TOML file by name and passed into each workflow as a snapshot,
so editing a strategy file never changes an account already in flight.
"""

from __future__ import annotations

import tomllib
from datetime import timedelta
from importlib import resources
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cobranza.domain import Channel, MessagePurpose, Outcome, RecipientRole, Stage, TaskKind
from cobranza.durations import Duration

StepId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]


class _Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: StepId


class ContactStep(_Step):
    kind: Literal["contact"] = "contact"
    channel: Channel
    template: str = Field(min_length=1, max_length=64)
    # Judged by the contact rules whatever the strategy says: a reference or an employer is refused.
    recipient_role: RecipientRole = RecipientRole.DEBTOR
    purpose: MessagePurpose = MessagePurpose.COLLECTION


class WaitStep(_Step):
    kind: Literal["wait"] = "wait"
    duration: Duration


class PromiseCheckStep(_Step):
    """Waits for an open promise to be decided (kept, or broken at due date plus grace)."""

    kind: Literal["promise_check"] = "promise_check"
    grace: Duration


class EscalateStep(_Step):
    kind: Literal["escalate"] = "escalate"
    to_stage: Stage


class CloseStep(_Step):
    kind: Literal["close"] = "close"
    outcome: Literal[Outcome.EXHAUSTED, Outcome.HANDED_TO_LEGAL]


class BureauNoticeStep(_Step):
    """The prior notice before a negative credit-bureau report (Ley 1266 Art. 12, Ley 2157)."""

    kind: Literal["bureau_notice"] = "bureau_notice"


class BureauReportStep(_Step):
    """A negative report to the credit bureaus: only with authorization on file, at least 20 days
    after the last notice (two notices on different days for small debts); a payment in full
    before it cancels it. Refused reports are logged and the strategy goes on."""

    kind: Literal["bureau_report"] = "bureau_report"


TeamId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
TaskPriority = Literal["low", "normal", "high", "urgent"]


class AgentTaskStep(_Step):
    """A human task for an agent's team; the workflow waits for its completion or its SLA.

    `task_kind` (not `kind`, which names the step type) says what the agent does. When the SLA
    expires the task goes back to the team queue up to `max_reassignments` times (then it expires
    and the strategy goes on), or, with `on_sla_expiry = "escalate"`, the account jumps to the
    next escalate step as a broken promise does.
    """

    kind: Literal["agent_task"] = "agent_task"
    task_kind: Literal[
        TaskKind.CALL, TaskKind.NEGOTIATE, TaskKind.VERIFY_PAYMENT, TaskKind.REVIEW_DISPUTE
    ]
    sla: Duration
    priority: TaskPriority = "normal"
    team: TeamId
    on_sla_expiry: Literal["reassign", "escalate"] = "reassign"
    max_reassignments: int = Field(default=2, ge=0, le=20)

    @field_validator("sla")
    @classmethod
    def _sla_positive(cls, sla: timedelta) -> timedelta:
        if sla <= timedelta():
            raise ValueError("the SLA must be longer than zero")
        return sla


Step = Annotated[
    ContactStep
    | WaitStep
    | PromiseCheckStep
    | EscalateStep
    | CloseStep
    | AgentTaskStep
    | BureauNoticeStep
    | BureauReportStep,
    Field(discriminator="kind"),
]


class Strategy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    version: str = Field(min_length=1, max_length=32)
    description: str = ""
    # Accounts this many days past due (or more) start at that stage instead of the first one.
    start_stage_by_days_past_due: dict[Stage, int] = Field(default_factory=dict)
    # Longest promise horizon an agent or the debtor may commit to.
    promise_max_horizon: Duration = timedelta(days=30)
    # Due date offered to a debtor who answers a message with the self-service promise option.
    reply_promise_after: Duration = timedelta(days=5)
    # Payment agreements (acuerdos de pago) an agent may record: installments and horizon.
    agreement_max_installments: int = Field(default=12, ge=2, le=60)
    agreement_max_horizon: Duration = timedelta(days=180)
    # Who reviews disputes and deceased/bankrupt reports, and how long they have (reassigned
    # to the team queue whenever it passes: a held account never escalates by itself).
    supervisor_team: TeamId = "supervision"
    supervisor_sla: Duration = timedelta(days=2)
    # The contact rules version (cobranza/rules/contact_rules.toml) accounts start with; None is
    # the current one. The rules themselves go into each account's snapshot at start.
    contact_rules_version: str | None = None
    steps: list[Step] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _ids_unique_and_closed(cls, steps: list[Step]) -> list[Step]:
        seen: set[str] = set()
        for step in steps:
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is repeated")
            seen.add(step.id)
        if steps[-1].kind != "close":
            raise ValueError("the last step must be a 'close' step")
        return steps

    @model_validator(mode="after")
    def _stages_only_move_forward(self) -> Strategy:
        stage = Stage.PREVENTIVA
        for step in self.steps:
            if isinstance(step, EscalateStep):
                if step.to_stage.rank <= stage.rank:
                    raise ValueError(
                        f"step {step.id!r} escalates to {step.to_stage} from {stage}: "
                        "stages only move forward"
                    )
                stage = step.to_stage
            if (
                isinstance(step, CloseStep)
                and step.outcome == Outcome.HANDED_TO_LEGAL
                and stage != Stage.JURIDICA
            ):
                raise ValueError(f"step {step.id!r} hands to legal before the jurídica stage")
        for start_stage in self.start_stage_by_days_past_due:
            if start_stage != Stage.PREVENTIVA and self.escalation_index(start_stage) is None:
                raise ValueError(
                    f"no escalate step to {start_stage} for start_stage_by_days_past_due"
                )
        return self

    def escalation_index(self, stage: Stage) -> int | None:
        for index, step in enumerate(self.steps):
            if isinstance(step, EscalateStep) and step.to_stage == stage:
                return index
        return None

    def next_escalation_index(self, after: int) -> int | None:
        for index in range(after + 1, len(self.steps)):
            if isinstance(self.steps[index], EscalateStep):
                return index
        return None

    def start_for(self, days_past_due: int) -> tuple[Stage, int]:
        """The stage an account starts in and the index of its first step."""
        stage, index = Stage.PREVENTIVA, 0
        for candidate, threshold in sorted(
            self.start_stage_by_days_past_due.items(), key=lambda item: item[0].rank
        ):
            escalation = self.escalation_index(candidate)
            if days_past_due >= threshold and escalation is not None:
                stage, index = candidate, escalation + 1
        return stage, index

    def total_wait(self) -> timedelta:
        return sum((s.duration for s in self.steps if isinstance(s, WaitStep)), timedelta())


class UnknownStrategyError(LookupError):
    pass


def available_strategies() -> list[str]:
    folder = resources.files("cobranza") / "strategies"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_strategy(name: str) -> Strategy:
    folder = resources.files("cobranza") / "strategies"
    path = folder / f"{name}.toml"
    if not path.is_file():
        names = ", ".join(available_strategies())
        raise UnknownStrategyError(f"estrategia desconocida: {name!r} (disponibles: {names})")
    return Strategy.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
