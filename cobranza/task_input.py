"""Turning what an agent typed (CLI options or console form fields) into a `TaskCompletion`.

One parser for both front ends; each passes the names its people see (`--due` on the command
line, "fecha de pago" in the browser), and every problem names its field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from pydantic import BaseModel, ValidationError

from cobranza.domain import BOGOTA, TaskOutcome
from cobranza.models import Installment, TaskCompletion
from cobranza.money import CopParseError, parse_cop
from cobranza.operations import end_of_day

CLI_NAMES: dict[str, str] = {
    "outcome": "--outcome",
    "amount_cop": "--amount",
    "due_at": "--due",
    "installments": "--installments",
    "call_back_at": "--at",
    "reference": "--reference",
    "task_id": "tarea",
    "agent_id": "--agent",
}


class InputProblem(BaseModel):
    field: str
    message: str


class CompletionInputError(ValueError):
    def __init__(self, problems: list[InputProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def parse_instant(text: str, option: str) -> datetime:
    """An ISO date and time; without an offset it is Bogota time."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as err:
        raise ValueError(
            f"{option}: fecha y hora inválida {text!r} (use AAAA-MM-DDTHH:MM, hora de Bogotá)"
        ) from err
    return value.replace(tzinfo=BOGOTA) if value.tzinfo is None else value


def parse_due(text: str, option: str = "--due") -> datetime:
    """A date (due at the end of that day in Bogota) or a date and time."""
    stripped = text.strip()
    if len(stripped) == 10:
        try:
            return end_of_day(date.fromisoformat(stripped))
        except ValueError as err:
            raise ValueError(f"{option}: fecha inválida {text!r} (use AAAA-MM-DD)") from err
    return parse_instant(stripped, option)


def parse_amount(text: str, option: str) -> int:
    try:
        value = parse_cop(text)
    except CopParseError as err:
        raise ValueError(f"{option}: {err}") from err
    if value <= 0:
        raise ValueError(f"{option}: el monto debe ser mayor que cero")
    return value


def parse_installments(text: str, option: str = "--installments") -> list[Installment]:
    """`AAAA-MM-DD:COP,AAAA-MM-DD:COP,...`; amounts with dots for thousands, no cents."""
    installments: list[Installment] = []
    parts = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
    for number, part in enumerate(parts, start=1):
        if ":" not in part:
            raise ValueError(
                f"{option}: la cuota {number} ({part!r}) no tiene la forma "
                "AAAA-MM-DD:MONTO (separe las cuotas con comas; montos sin centavos)"
            )
        when, _, amount_text = part.rpartition(":")
        due_at = parse_due(when, f"{option}, cuota {number}")
        amount = parse_amount(amount_text, f"{option}, cuota {number}")
        installments.append(Installment(due_at=due_at, amount_cop=amount))
    return installments


def build_completion(
    *,
    task_id: str,
    agent_id: str,
    outcome: str,
    amount: str | None = None,
    due: str | None = None,
    installments: str | None = None,
    at: str | None = None,
    reference: str | None = None,
    names: Mapping[str, str] = CLI_NAMES,
) -> TaskCompletion:
    """Parse every field; raise CompletionInputError listing each bad one (by its name)."""
    problems: list[InputProblem] = []
    values: dict[str, object] = {"task_id": task_id.strip(), "agent_id": agent_id.strip()}

    def field(key: str, parse: object, text: str | None) -> None:
        if text is None or not text.strip():
            return
        try:
            values[key] = parse(text, names[key])  # type: ignore[operator]
        except ValueError as err:
            problems.append(InputProblem(field=key, message=str(err)))

    try:
        values["outcome"] = TaskOutcome(outcome.strip())
    except ValueError:
        codes = ", ".join(o.value for o in TaskOutcome)
        problems.append(
            InputProblem(
                field="outcome",
                message=f"{names['outcome']}: resultado desconocido {outcome!r}; use uno de: {codes}",
            )
        )
    field("amount_cop", parse_amount, amount)
    field("due_at", parse_due, due)
    field("installments", parse_installments, installments)
    field("call_back_at", parse_instant, at)
    if reference is not None and reference.strip():
        values["reference"] = reference.strip()
    if problems:
        raise CompletionInputError(problems)
    try:
        return TaskCompletion.model_validate(values)
    except ValidationError as err:
        raise CompletionInputError(_validation_problems(err, task_id, names)) from err


def _validation_problems(
    err: ValidationError, task_id: str, names: Mapping[str, str]
) -> list[InputProblem]:
    messages = {
        "task_id": f"tarea {task_id!r}: no es un identificador de tarea (T- y 16 hexadecimales)",
        "agent_id": f"{names['agent_id']}: código de gestor inválido",
        "reference": f"{names['reference']}: referencia inválida (letras, dígitos y . _ : / -)",
        "installments": f"{names['installments']}: demasiadas cuotas",
    }
    problems = []
    for error in err.errors():
        key = str(error["loc"][0]) if error["loc"] else ""
        problems.append(
            InputProblem(field=key, message=messages.get(key, f"{key}: {error['msg']}"))
        )
    return problems
