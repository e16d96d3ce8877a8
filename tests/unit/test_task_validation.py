"""Pure rules of agents' task completions: what is refused and why, worklist order, CLI parsing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cobranza.compliance import load_contact_rules
from cobranza.domain import (
    BOGOTA,
    TASK_OUTCOME_LABELS,
    TASK_OUTCOMES_BY_KIND,
    TaskKind,
    TaskOutcome,
)
from cobranza.models import Installment, TaskCompletion
from cobranza.strategy import AgentTaskStep, Strategy
from cobranza.task_input import parse_due, parse_installments, parse_instant
from cobranza.tasks import (
    EFFECT_LABELS,
    OUTCOME_EFFECTS,
    CompletionContext,
    completion_problems,
    priority_score,
)

# A Wednesday morning in Bogota, no holiday.
NOW = datetime(2026, 12, 9, 9, 0, tzinfo=BOGOTA)
TASK = "T-0123456789abcdef"


def ctx(kind: TaskKind = TaskKind.CALL, balance: int = 1_000_000) -> CompletionContext:
    return CompletionContext(
        task_kind=kind,
        balance_cop=balance,
        now=NOW,
        promise_horizon_until=NOW + timedelta(days=30),
        agreement_horizon_until=NOW + timedelta(days=180),
        agreement_max_installments=12,
        contact_rules=load_contact_rules(),
    )


def completion(outcome: TaskOutcome, **fields: object) -> TaskCompletion:
    return TaskCompletion(task_id=TASK, agent_id="gestor-1", outcome=outcome, **fields)


def codes(c: TaskCompletion, context: CompletionContext | None = None) -> list[str]:
    return [p.code for p in completion_problems(c, context or ctx())]


def test_every_outcome_has_a_label_an_effect_and_a_task_kind() -> None:
    for outcome in TaskOutcome:
        assert TASK_OUTCOME_LABELS[outcome]
        assert EFFECT_LABELS[OUTCOME_EFFECTS[outcome]]
        assert any(outcome in allowed for allowed in TASK_OUTCOMES_BY_KIND.values())
    assert set(TASK_OUTCOMES_BY_KIND) == set(TaskKind)


def test_valid_promise_is_accepted() -> None:
    c = completion(TaskOutcome.PROMISE_TO_PAY, amount_cop=400_000, due_at=NOW + timedelta(days=5))
    assert completion_problems(c, ctx()) == []


def test_promise_in_the_past_is_refused_in_spanish() -> None:
    c = completion(TaskOutcome.PROMISE_TO_PAY, amount_cop=400_000, due_at=NOW - timedelta(hours=1))
    [problem] = completion_problems(c, ctx())
    assert problem.code == "due_not_in_future" and problem.field == "due_at"
    assert "ya pasó" in problem.message and "2026-12-09 08:00" in problem.message


def test_promise_beyond_horizon_and_over_balance_both_named() -> None:
    c = completion(
        TaskOutcome.PROMISE_TO_PAY, amount_cop=1_200_000, due_at=NOW + timedelta(days=31)
    )
    problems = completion_problems(c, ctx())
    assert [p.code for p in problems] == ["amount_over_balance", "due_beyond_horizon"]
    assert "$ 1.200.000" in problems[0].message and "$ 1.000.000" in problems[0].message


def test_promise_without_amount_names_the_option() -> None:
    [problem] = completion_problems(
        completion(TaskOutcome.PROMISE_TO_PAY, due_at=NOW + timedelta(days=1)), ctx()
    )
    assert problem.code == "field_required" and "--amount" in problem.message


def test_fields_that_do_not_apply_are_refused() -> None:
    [problem] = completion_problems(completion(TaskOutcome.NO_ANSWER, amount_cop=5), ctx())
    assert problem.code == "field_not_applicable" and "no aplica" in problem.message


def test_outcome_must_fit_the_task_kind() -> None:
    [problem] = completion_problems(
        completion(TaskOutcome.PAYMENT_CONFIRMED, amount_cop=1, reference="R1"), ctx()
    )
    assert problem.code == "outcome_not_allowed"
    assert "llamada" in problem.message and "promise_to_pay" in problem.message
    assert codes(completion(TaskOutcome.DISPUTE_REJECTED), ctx(TaskKind.REVIEW_DISPUTE)) == []
    assert codes(completion(TaskOutcome.NO_ANSWER), ctx(TaskKind.SUPERVISOR_REVIEW)) == [
        "outcome_not_allowed"
    ]


def _plan(*parts: tuple[int, int]) -> list[Installment]:
    return [Installment(due_at=NOW + timedelta(days=d), amount_cop=a) for d, a in parts]


def test_agreement_installments_must_sum_to_the_total() -> None:
    good = completion(
        TaskOutcome.PAYMENT_AGREEMENT,
        amount_cop=900_000,
        installments=_plan((10, 300_000), (40, 300_000), (70, 300_000)),
    )
    assert codes(good) == []
    bad = completion(
        TaskOutcome.PAYMENT_AGREEMENT,
        amount_cop=900_000,
        installments=_plan((10, 300_000), (40, 300_000)),
    )
    [problem] = completion_problems(bad, ctx())
    assert problem.code == "installments_do_not_sum"
    assert "$ 600.000" in problem.message and "$ 900.000" in problem.message


def test_agreement_rules_each_named() -> None:
    one = completion(TaskOutcome.PAYMENT_AGREEMENT, amount_cop=100, installments=_plan((3, 100)))
    assert codes(one) == ["installments_too_few"]
    unordered = completion(
        TaskOutcome.PAYMENT_AGREEMENT, amount_cop=200, installments=_plan((9, 100), (3, 100))
    )
    assert codes(unordered) == ["installments_not_in_order"]
    late = completion(
        TaskOutcome.PAYMENT_AGREEMENT, amount_cop=200, installments=_plan((-1, 100), (200, 100))
    )
    assert codes(late) == ["installment_not_in_future", "installment_beyond_horizon"]
    over = completion(
        TaskOutcome.PAYMENT_AGREEMENT,
        amount_cop=2_000_000,
        installments=_plan((3, 1_000_000), (33, 1_000_000)),
    )
    assert codes(over) == ["amount_over_balance"]
    many = completion(
        TaskOutcome.PAYMENT_AGREEMENT,
        amount_cop=13,
        installments=_plan(*[(d + 1, 1) for d in range(13)]),
    )
    assert codes(many) == ["installments_too_many"]


@pytest.mark.parametrize(
    ("at", "code", "words"),
    [
        (datetime(2026, 12, 9, 10, 30, tzinfo=BOGOTA), None, ""),
        (datetime(2026, 12, 9, 19, 0, tzinfo=BOGOTA), "call_back_outside_hours", "horario"),
        (datetime(2026, 12, 12, 15, 30, tzinfo=BOGOTA), "call_back_outside_hours", "horario"),
        (datetime(2026, 12, 13, 10, 0, tzinfo=BOGOTA), "call_back_outside_hours", "domingos"),
        # 2026-12-25, Navidad.
        (datetime(2026, 12, 25, 10, 0, tzinfo=BOGOTA), "call_back_outside_hours", "festivo"),
        (datetime(2026, 12, 9, 8, 0, tzinfo=BOGOTA), "call_back_not_in_future", "ya pasó"),
    ],
)
def test_call_back_only_in_legal_hours(at: datetime, code: str | None, words: str) -> None:
    problems = completion_problems(completion(TaskOutcome.CALL_BACK, call_back_at=at), ctx())
    if code is None:
        assert problems == []
        return
    [problem] = problems
    assert problem.code == code and words in problem.message


def test_priority_weight_dominates_then_balance_days_and_promise() -> None:
    def score(priority: str, balance: int = 0, dpd: int = 0, promise: bool = False) -> int:
        due = NOW + timedelta(hours=20) if promise else None
        return priority_score(
            priority, balance_cop=balance, days_past_due=dpd, promise_due_at=due, now=NOW
        )

    assert score("high") > score("normal", balance=10**12, dpd=10_000, promise=True)
    assert score("normal", balance=20_000_000) > score("normal", balance=1_000_000)
    assert score("normal", dpd=90) > score("normal", dpd=10)
    assert score("normal", promise=True) > score("normal")
    far = priority_score(
        "normal", balance_cop=0, days_past_due=0, promise_due_at=NOW + timedelta(days=9), now=NOW
    )
    assert far == score("normal")


def test_agent_task_step_reads_from_toml_shape() -> None:
    step = AgentTaskStep.model_validate(
        {"id": "call", "task_kind": "call", "sla": "2d", "team": "preventiva"}
    )
    assert step.sla == timedelta(days=2) and step.on_sla_expiry == "reassign"
    with pytest.raises(ValueError):
        AgentTaskStep.model_validate(
            {"id": "x", "task_kind": "supervisor_review", "sla": "1d", "team": "t"}
        )
    with pytest.raises(ValueError):
        AgentTaskStep.model_validate({"id": "x", "task_kind": "call", "sla": "0s", "team": "t"})
    demo = Strategy.model_validate(
        {
            "name": "x",
            "version": "1",
            "steps": [
                {"id": "c", "kind": "agent_task", "task_kind": "call", "sla": "1h", "team": "a"},
                {"id": "end", "kind": "close", "outcome": "exhausted"},
            ],
        }
    )
    assert isinstance(demo.steps[0], AgentTaskStep)


def test_parse_installments_and_dates() -> None:
    plan = parse_installments("2026-12-20:300.000, 2027-01-20:$ 600.000")
    assert [i.amount_cop for i in plan] == [300_000, 600_000]
    assert plan[0].due_at == datetime(2026, 12, 20, 23, 59, 59, tzinfo=BOGOTA)
    timed = parse_installments("2026-12-20T10:00:450000")
    assert timed[0].due_at == datetime(2026, 12, 20, 10, 0, tzinfo=BOGOTA)
    with pytest.raises(ValueError, match="cuota 2"):
        parse_installments("2026-12-20:300.000,00")
    with pytest.raises(ValueError, match="cuota 1"):
        parse_installments("2026-13-20:300.000")
    assert parse_due("2026-12-20").hour == 23
    assert parse_instant("2026-12-20T10:15", "--at").tzinfo == BOGOTA
    with pytest.raises(ValueError, match="--at"):
        parse_instant("mañana", "--at")
