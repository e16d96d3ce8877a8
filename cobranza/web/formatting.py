"""How the console shows values: COP the Colombian way, instants in Bogota time, Spanish labels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from babel.numbers import format_decimal, format_percent
from jinja2 import Environment

from cobranza.domain import (
    BOGOTA,
    OUTCOME_LABELS,
    STAGE_LABELS,
    TASK_KIND_LABELS,
    TASK_OUTCOME_LABELS,
    Outcome,
    Stage,
    TaskKind,
    TaskOutcome,
)
from cobranza.money import format_cop
from cobranza.report import STATUS_LABELS as CAMPAIGN_STATUS_LABELS
from cobranza.tasks import PRIORITY_LABELS
from cobranza.tasks import STATUS_LABELS as TASK_STATUS_LABELS
from cobranza.web.users import ROLE_LABELS, Role


def cop(amount: int | None) -> str:
    return "—" if amount is None else format_cop(int(amount))


def local_dt(value: datetime | None, seconds: bool = False) -> str:
    if value is None:
        return "—"
    return value.astimezone(BOGOTA).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def number(value: int | None) -> str:
    return "—" if value is None else format_decimal(value, locale="es_CO")


def percent(value: float | None) -> str:
    return "—" if value is None else format_percent(value, format="#,##0.0 %", locale="es_CO")


def _label(table: dict[Any, str], kind: type[Any]) -> Any:
    def label(value: Any) -> str:
        if value is None:
            return "—"
        try:
            return table[kind(value)]
        except (KeyError, ValueError):
            return str(value)

    return label


stage_label = _label(STAGE_LABELS, Stage)
outcome_label = _label(OUTCOME_LABELS, Outcome)
task_kind_label = _label(TASK_KIND_LABELS, TaskKind)
task_outcome_label = _label(TASK_OUTCOME_LABELS, TaskOutcome)
role_label = _label(ROLE_LABELS, Role)


def install(env: Environment) -> None:
    env.filters.update(
        cop=cop,
        local_dt=local_dt,
        number=number,
        percent=percent,
        stage=stage_label,
        outcome=outcome_label,
        task_kind=task_kind_label,
        task_outcome=task_outcome_label,
        task_status=lambda v: TASK_STATUS_LABELS.get(v, v),
        campaign_status=lambda v: CAMPAIGN_STATUS_LABELS.get(v, v),
        priority=lambda v: PRIORITY_LABELS.get(v, v),
        role=role_label,
    )
