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

from cobranza.domain import Channel, Outcome, Stage
from cobranza.durations import Duration

StepId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]


class _Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: StepId


class ContactStep(_Step):
    kind: Literal["contact"] = "contact"
    channel: Channel
    template: str = Field(min_length=1, max_length=64)


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


Step = Annotated[
    ContactStep | WaitStep | PromiseCheckStep | EscalateStep | CloseStep,
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
