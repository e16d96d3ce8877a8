"""Human tasks for collection agents: what a completion must satisfy, how the worklist is ordered,
and the one code path every front end (CLI now, web console later) uses to work the worklist.

The first half is pure (no I/O, no clock): the workflow calls `completion_problems` with
`workflow.now()` and its own state, the CLI calls it with the workflow's `task_view` query, so both
sides refuse the same completions for the same reasons. The second half reads and writes Postgres
and talks to Temporal.

Completion goes through a Temporal Update (`CollectionWorkflow.complete_task`), not a bare signal:
the agent learns at once whether the workflow accepted, rejected (and why) or ignored a stale
completion, and the workflow writes every verdict, rejections included, to the collection log.
There is deliberately no update validator: a validator's rejection leaves no trace in the history,
and the record must show a refused completion. A `task_completed` signal with the same semantics
remains for systems that can only signal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from cobranza.compliance.calendar import (
    closed_day_reason,
    format_instant,
    format_range,
    is_within_window,
    next_window_start,
)
from cobranza.compliance.rules import ComplianceError, ContactRules
from cobranza.domain import (
    BOGOTA,
    TASK_KIND_LABELS,
    TASK_OUTCOME_LABELS,
    TASK_OUTCOMES_BY_KIND,
    TaskKind,
    TaskOutcome,
)
from cobranza.models import (
    AgentId,
    CompletionProblem,
    CompletionReceipt,
    TaskCompletion,
    TaskView,
    workflow_id_for,
)
from cobranza.money import format_cop
from cobranza.strategy import TeamId

# --- pure rules ------------------------------------------------------------------------------------

PRIORITY_WEIGHTS: dict[str, int] = {"low": 0, "normal": 1000, "high": 2000, "urgent": 3000}
PRIORITY_LABELS: dict[str, str] = {
    "low": "baja",
    "normal": "normal",
    "high": "alta",
    "urgent": "urgente",
}
# A promise falling due this soon makes a call more urgent (a reminder can still save it).
PROMISE_SOON = timedelta(days=2)


def priority_score(
    priority: str,
    *,
    balance_cop: int,
    days_past_due: int,
    promise_due_at: datetime | None,
    now: datetime,
) -> int:
    """Worklist order (higher first): the step's priority, then balance, days past due and a
    promise due soon. The priority weight exceeds any sum of the rest, so it always wins."""
    score = PRIORITY_WEIGHTS[priority]
    score += min(400, max(0, balance_cop) // 250_000)  # +1 per $ 250.000, up to $ 100 millones
    score += min(300, max(0, days_past_due) * 2)
    if promise_due_at is not None and now <= promise_due_at <= now + PROMISE_SOON:
        score += 250
    return score


class CompletionContext(BaseModel):
    """What a completion is judged against; built from the workflow state or its query."""

    model_config = ConfigDict(frozen=True)

    task_kind: TaskKind
    balance_cop: int
    now: datetime
    promise_horizon_until: datetime
    agreement_horizon_until: datetime
    agreement_max_installments: int
    contact_rules: ContactRules

    @classmethod
    def from_view(cls, view: TaskView, kind: TaskKind) -> CompletionContext:
        return cls(
            task_kind=kind,
            balance_cop=view.balance_cop,
            now=view.now,
            promise_horizon_until=view.promise_horizon_until,
            agreement_horizon_until=view.agreement_horizon_until,
            agreement_max_installments=view.agreement_max_installments,
            contact_rules=view.contact_rules,
        )


FieldName = Literal["amount_cop", "due_at", "installments", "call_back_at", "reference"]
FIELD_OPTIONS: dict[FieldName, str] = {
    "amount_cop": "el monto (--amount)",
    "due_at": "la fecha de pago (--due)",
    "installments": "las cuotas (--installments)",
    "call_back_at": "la hora de la nueva llamada (--at)",
    "reference": "la referencia del pago (--reference)",
}
# The fields each outcome needs; every other field must be left out.
REQUIRED_FIELDS: dict[TaskOutcome, frozenset[FieldName]] = {
    TaskOutcome.PROMISE_TO_PAY: frozenset({"amount_cop", "due_at"}),
    TaskOutcome.PAYMENT_AGREEMENT: frozenset({"amount_cop", "installments"}),
    TaskOutcome.CALL_BACK: frozenset({"call_back_at"}),
    TaskOutcome.PAYMENT_CONFIRMED: frozenset({"amount_cop", "reference"}),
}


def local(at: datetime) -> str:
    return at.astimezone(BOGOTA).strftime("%Y-%m-%d %H:%M")


def outcome_label(outcome: TaskOutcome) -> str:
    return f"{outcome.value} ({TASK_OUTCOME_LABELS[outcome]})"


def _problem(code: str, field: str, message: str) -> CompletionProblem:
    return CompletionProblem(code=code, field=field, message=message)


def completion_problems(
    completion: TaskCompletion, ctx: CompletionContext
) -> list[CompletionProblem]:
    """Everything wrong with a completion for an open task, in Spanish; empty when acceptable."""
    allowed = TASK_OUTCOMES_BY_KIND[ctx.task_kind]
    if completion.outcome not in allowed:
        options = ", ".join(sorted(o.value for o in allowed))
        return [
            _problem(
                "outcome_not_allowed",
                "outcome",
                f"el resultado {outcome_label(completion.outcome)} no aplica a una tarea de "
                f"{TASK_KIND_LABELS[ctx.task_kind]}; use uno de: {options}",
            )
        ]
    problems: list[CompletionProblem] = []
    required = REQUIRED_FIELDS.get(completion.outcome, frozenset())
    for name, option in FIELD_OPTIONS.items():
        given = bool(getattr(completion, name))
        if name in required and not given:
            problems.append(
                _problem(
                    "field_required",
                    name,
                    f"falta {option} para el resultado {outcome_label(completion.outcome)}",
                )
            )
        elif name not in required and given:
            problems.append(
                _problem(
                    "field_not_applicable",
                    name,
                    f"{option} no aplica al resultado {outcome_label(completion.outcome)}",
                )
            )
    if problems:
        return problems
    if completion.outcome == TaskOutcome.PROMISE_TO_PAY:
        problems += _promise_problems(completion, ctx)
    elif completion.outcome == TaskOutcome.PAYMENT_AGREEMENT:
        problems += _agreement_problems(completion, ctx)
    elif completion.outcome == TaskOutcome.CALL_BACK:
        problems += _call_back_problems(completion, ctx)
    return problems


def _amount_problems(amount: int, ctx: CompletionContext, what: str) -> list[CompletionProblem]:
    if amount > ctx.balance_cop:
        return [
            _problem(
                "amount_over_balance",
                "amount_cop",
                f"{what} ({format_cop(amount)}) supera el saldo de la cuenta "
                f"({format_cop(ctx.balance_cop)})",
            )
        ]
    return []


def _promise_problems(c: TaskCompletion, ctx: CompletionContext) -> list[CompletionProblem]:
    assert c.amount_cop is not None and c.due_at is not None
    problems = _amount_problems(c.amount_cop, ctx, "el monto prometido")
    if c.due_at <= ctx.now:
        problems.append(
            _problem(
                "due_not_in_future",
                "due_at",
                f"la fecha de pago prometida ({local(c.due_at)}) ya pasó: debe ser futura",
            )
        )
    elif c.due_at > ctx.promise_horizon_until:
        problems.append(
            _problem(
                "due_beyond_horizon",
                "due_at",
                f"la fecha de pago prometida ({local(c.due_at)}) supera el horizonte de la "
                f"estrategia (hasta {local(ctx.promise_horizon_until)})",
            )
        )
    return problems


def _agreement_problems(c: TaskCompletion, ctx: CompletionContext) -> list[CompletionProblem]:
    assert c.amount_cop is not None
    problems = _amount_problems(c.amount_cop, ctx, "el total acordado")
    installments = c.installments
    if len(installments) < 2:
        problems.append(
            _problem(
                "installments_too_few",
                "installments",
                "un acuerdo de pago necesita al menos 2 cuotas; para un solo pago registre una "
                "promesa (promise_to_pay)",
            )
        )
    elif len(installments) > ctx.agreement_max_installments:
        problems.append(
            _problem(
                "installments_too_many",
                "installments",
                f"el acuerdo tiene {len(installments)} cuotas; la estrategia permite hasta "
                f"{ctx.agreement_max_installments}",
            )
        )
    total = sum(i.amount_cop for i in installments)
    if installments and total != c.amount_cop:
        problems.append(
            _problem(
                "installments_do_not_sum",
                "installments",
                f"las cuotas suman {format_cop(total)} y el total acordado es "
                f"{format_cop(c.amount_cop)}",
            )
        )
    previous: datetime | None = None
    for number, installment in enumerate(installments, start=1):
        if installment.due_at <= ctx.now:
            problems.append(
                _problem(
                    "installment_not_in_future",
                    "installments",
                    f"la cuota {number} vence el {local(installment.due_at)}, que ya pasó",
                )
            )
        elif installment.due_at > ctx.agreement_horizon_until:
            problems.append(
                _problem(
                    "installment_beyond_horizon",
                    "installments",
                    f"la cuota {number} ({local(installment.due_at)}) supera el horizonte de "
                    f"acuerdos de la estrategia (hasta {local(ctx.agreement_horizon_until)})",
                )
            )
        if previous is not None and installment.due_at <= previous:
            problems.append(
                _problem(
                    "installments_not_in_order",
                    "installments",
                    f"la cuota {number} debe vencer después de la cuota {number - 1}",
                )
            )
        previous = installment.due_at
    return problems


def _call_back_problems(c: TaskCompletion, ctx: CompletionContext) -> list[CompletionProblem]:
    at = c.call_back_at
    assert at is not None
    rules = ctx.contact_rules
    if at <= ctx.now:
        return [
            _problem(
                "call_back_not_in_future",
                "call_back_at",
                f"la hora para volver a llamar ({local(at)}) ya pasó: debe ser futura",
            )
        ]
    if at > ctx.promise_horizon_until:
        return [
            _problem(
                "call_back_beyond_horizon",
                "call_back_at",
                f"la nueva llamada ({local(at)}) supera el horizonte de la estrategia "
                f"(hasta {local(ctx.promise_horizon_until)})",
            )
        ]
    if is_within_window(at, rules):
        return []
    reason = closed_day_reason(at.astimezone(BOGOTA).date(), rules) or (
        f"fuera del horario legal (lunes a viernes {format_range(rules.weekday_window)}, "
        f"sábados {format_range(rules.saturday_window)})"
    )
    try:
        suggestion = (
            f"; la próxima franja empieza el {format_instant(next_window_start(at, rules))}"
        )
    except ComplianceError:
        suggestion = ""
    return [
        _problem(
            "call_back_outside_hours",
            "call_back_at",
            f"no se puede volver a llamar el {format_instant(at)}: {reason}{suggestion}",
        )
    ]


# What each outcome does to the collection (logged with the completion; docs/agent.md explains).
OUTCOME_EFFECTS: dict[TaskOutcome, str] = {
    TaskOutcome.PROMISE_TO_PAY: "promise_registered",
    TaskOutcome.PAYMENT_AGREEMENT: "agreement_registered",
    TaskOutcome.ALREADY_PAID: "verify_payment_task",
    TaskOutcome.DISPUTE: "hold_dispute",
    TaskOutcome.WRONG_NUMBER: "contact_point_invalid",
    TaskOutcome.NO_ANSWER: "strategy_continues",
    TaskOutcome.LEFT_MESSAGE: "strategy_continues",
    TaskOutcome.CALL_BACK: "call_back_task",
    TaskOutcome.REFUSES: "escalate",
    TaskOutcome.DECEASED: "hold_supervisor",
    TaskOutcome.BANKRUPT: "hold_supervisor",
    TaskOutcome.PAYMENT_CONFIRMED: "payment_applied",
    TaskOutcome.PAYMENT_NOT_FOUND: "strategy_continues",
    TaskOutcome.DISPUTE_UPHELD: "collection_cancelled",
    TaskOutcome.DISPUTE_REJECTED: "hold_released",
    TaskOutcome.RESUME_COLLECTION: "hold_released",
    TaskOutcome.CLOSE_COLLECTION: "collection_cancelled",
    TaskOutcome.HAND_TO_LEGAL: "handed_to_legal",
}
EFFECT_LABELS: dict[str, str] = {
    "promise_registered": "se registra la promesa de pago",
    "agreement_registered": "se registra el acuerdo; cada cuota se vigila como una promesa",
    "verify_payment_task": "se abre una tarea de verificación de pago",
    "hold_dispute": "cuenta en espera sin contacto hasta resolver el reclamo",
    "contact_point_invalid": "el teléfono queda inválido y no se vuelve a usar",
    "strategy_continues": "queda registrado; la estrategia sigue",
    "call_back_task": "se programa una nueva llamada a esa hora",
    "escalate": "la cuenta escala a la siguiente etapa",
    "hold_supervisor": "cobranza detenida; pasa a un supervisor",
    "payment_applied": "el pago verificado se aplica al saldo",
    "collection_cancelled": "la cobranza se cierra como cancelada",
    "hold_released": "termina la espera; la estrategia sigue",
    "handed_to_legal": "la cuenta se entrega a jurídico",
}


def completion_fields(completion: TaskCompletion) -> dict[str, Any]:
    """The completion's data fields that were given, as logged (ISO times, no note text)."""
    fields: dict[str, Any] = {}
    if completion.amount_cop is not None:
        fields["amount_cop"] = completion.amount_cop
    if completion.due_at is not None:
        fields["due_at"] = completion.due_at.isoformat()
    if completion.installments:
        fields["installments"] = [
            {"due_at": i.due_at.isoformat(), "amount_cop": i.amount_cop}
            for i in completion.installments
        ]
    if completion.call_back_at is not None:
        fields["call_back_at"] = completion.call_back_at.isoformat()
    if completion.reference is not None:
        fields["reference"] = completion.reference
    return fields


STALE_MESSAGES: dict[str, str] = {
    "not_open": "la cobranza no espera esta tarea",
    "already_closed": "la tarea ya se cerró en la cobranza",
    "duplicate": "la tarea ya se completó (completación repetida)",
    "collection_closed": "la cobranza de la cuenta ya terminó",
}


# --- the worklist (Postgres) -----------------------------------------------------------------------


class TaskError(ValueError):
    """A worklist request refused; the message is for people (Spanish) and nothing was changed."""

    def __init__(self, message: str, problems: Sequence[CompletionProblem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class AgentRow(BaseModel):
    agent_id: str
    full_name: str
    team: str
    role: Literal["agent", "supervisor"]
    active: bool
    claimed_tasks: int = 0


class TaskRow(BaseModel):
    task_id: str
    account_id: str
    campaign_id: str | None
    kind: TaskKind
    team: str
    status: Literal["open", "claimed", "completed", "expired", "closed"]
    assigned_to: str | None
    priority: str
    score: int
    due_at: datetime
    not_before: datetime | None
    step_id: str | None
    origin: str
    reassignments: int
    outcome: str | None
    completed_by: str | None
    close_reason: str | None
    balance_cop: int | None
    created_at: datetime


_TASK_COLUMNS = """t.task_id, t.account_id, t.campaign_id, t.kind, t.team, t.status, t.assigned_to,
    t.priority, t.score, t.due_at, t.not_before, t.step_id, t.origin, t.reassignments, t.outcome,
    t.completed_by, t.close_reason, c.balance_cop, t.created_at"""
_TASK_FROM = "agent_tasks t LEFT JOIN collections c ON c.collection_id = t.collection_id"
_WORKLIST_ORDER = "t.score DESC, t.due_at ASC, t.created_at ASC, t.task_id"
STATUS_LABELS: dict[str, str] = {
    "open": "abierta",
    "claimed": "tomada",
    "completed": "completada",
    "expired": "vencida",
    "closed": "cerrada",
}


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


async def add_agent(
    pool: AsyncConnectionPool,
    *,
    agent_id: str,
    full_name: str,
    team: str,
    role: Literal["agent", "supervisor"] = "agent",
) -> bool:
    """Register (or update) an agent; True when new."""
    try:
        TypeAdapter(AgentId).validate_python(agent_id)
    except ValidationError as err:
        raise TaskError(
            f"identificador de gestor inválido {agent_id!r}: use letras, dígitos, '.', '_' o '-' "
            "(hasta 64); es un código, no el nombre"
        ) from err
    try:
        TypeAdapter(TeamId).validate_python(team)
    except ValidationError as err:
        raise TaskError(
            f"equipo inválido {team!r}: minúsculas, dígitos, '_' o '-' (hasta 32)"
        ) from err
    name = " ".join(full_name.split())
    if not 1 <= len(name) <= 200:
        raise TaskError("el nombre del gestor no puede estar vacío (hasta 200 caracteres)")
    async with pool.connection() as conn:
        cur = await conn.execute(
            """INSERT INTO agents (agent_id, full_name, team, role) VALUES (%s, %s, %s, %s)
               ON CONFLICT (agent_id) DO UPDATE SET full_name = EXCLUDED.full_name,
                   team = EXCLUDED.team, role = EXCLUDED.role, active = true, updated_at = now()
               RETURNING (xmax = 0)""",
            (agent_id, name, team, role),
        )
        row = await cur.fetchone()
    return bool(row and row[0])


async def list_agents(pool: AsyncConnectionPool) -> list[AgentRow]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT a.agent_id, a.full_name, a.team, a.role, a.active,
                      count(t.task_id) AS claimed_tasks
               FROM agents a LEFT JOIN agent_tasks t
                   ON t.assigned_to = a.agent_id AND t.status = 'claimed'
               GROUP BY a.agent_id ORDER BY a.team, a.agent_id"""
        )
        return [AgentRow.model_validate(row) for row in await cur.fetchall()]


async def _agent(conn: Any, agent_id: str) -> AgentRow:
    cur = await conn.execute(
        "SELECT agent_id, full_name, team, role, active FROM agents WHERE agent_id = %s",
        (agent_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise TaskError(f"el gestor {agent_id!r} no está registrado (cobranza agent add)")
    agent = AgentRow(agent_id=row[0], full_name=row[1], team=row[2], role=row[3], active=row[4])
    if not agent.active:
        raise TaskError(f"el gestor {agent_id!r} está inactivo")
    return agent


async def get_task(pool: AsyncConnectionPool, task_id: str) -> TaskRow | None:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_TASK_COLUMNS} FROM {_TASK_FROM} WHERE t.task_id = %s", (task_id,)
        )
        row = await cur.fetchone()
    return TaskRow.model_validate(row) if row else None


async def list_tasks(
    pool: AsyncConnectionPool,
    *,
    agent_id: str | None = None,
    team: str | None = None,
    campaign_id: str | None = None,
    statuses: Sequence[str] = ("open", "claimed"),
    limit: int = 200,
) -> list[TaskRow]:
    """The worklist, most urgent first. With an agent: the tasks it holds plus the open tasks
    offered to its team (supervisors see every team's open tasks)."""
    where = ["t.status = ANY(%(statuses)s)"]
    params: dict[str, Any] = {"statuses": list(statuses), "limit": limit}
    async with pool.connection() as conn:
        if agent_id is not None:
            agent = await _agent(conn, agent_id)
            params["agent"] = agent_id
            params["agent_team"] = agent.team
            offered = "TRUE" if agent.role == "supervisor" else "t.team = %(agent_team)s"
            where.append(f"(t.assigned_to = %(agent)s OR (t.status = 'open' AND {offered}))")
        if team is not None:
            where.append("t.team = %(team)s")
            params["team"] = team
        if campaign_id is not None:
            where.append("t.campaign_id = %(campaign)s")
            params["campaign"] = campaign_id
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"""SELECT {_TASK_COLUMNS} FROM {_TASK_FROM} WHERE {" AND ".join(where)}
                    ORDER BY {_WORKLIST_ORDER} LIMIT %(limit)s""",
                params,
            )
            return [TaskRow.model_validate(row) for row in await cur.fetchall()]


def _not_pending(task: TaskRow) -> str:
    if task.status == "completed":
        outcome = TaskOutcome(task.outcome) if task.outcome else None
        done = f" (resultado {outcome_label(outcome)})" if outcome else ""
        return f"la tarea {task.task_id} ya fue completada{done}"
    if task.status == "expired":
        return f"la tarea {task.task_id} venció sin completarse"
    return f"la tarea {task.task_id} está cerrada ({task.close_reason or 'sin motivo'})"


async def _task_for_update(conn: Any, task_id: str) -> TaskRow:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_TASK_COLUMNS} FROM {_TASK_FROM} WHERE t.task_id = %s FOR UPDATE OF t",
            (task_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise TaskError(f"la tarea {task_id!r} no existe")
    return TaskRow.model_validate(row)


async def _event(conn: Any, task_id: str, event: str, agent_id: str | None, by: str) -> None:
    await conn.execute(
        "INSERT INTO agent_task_events (task_id, event, agent_id, by_agent) VALUES (%s, %s, %s, %s)",
        (task_id, event, agent_id, by),
    )


async def claim_task(
    pool: AsyncConnectionPool, task_id: str, agent_id: str, *, now: datetime | None = None
) -> TaskRow:
    """Take an open task for this agent. Of agents claiming at once exactly one wins: the
    conditional UPDATE re-checks `status = 'open'` after waiting for the row lock."""
    async with pool.connection() as conn, conn.transaction():
        agent = await _agent(conn, agent_id)
        cur = await conn.execute(
            """UPDATE agent_tasks SET status = 'claimed', assigned_to = %(agent)s,
                   claimed_at = now(), updated_at = now()
               WHERE task_id = %(task)s AND status = 'open'
                 AND (not_before IS NULL OR not_before <= %(now)s)
                 AND (team = %(team)s OR %(supervisor)s)
               RETURNING task_id""",
            {
                "agent": agent_id,
                "task": task_id,
                "now": _now(now),
                "team": agent.team,
                "supervisor": agent.role == "supervisor",
            },
        )
        if await cur.fetchone() is not None:
            await _event(conn, task_id, "claimed", agent_id, agent_id)
            claimed = True
        else:
            claimed = False
    if claimed:
        task = await get_task(pool, task_id)
        assert task is not None
        return task
    task = await get_task(pool, task_id)
    if task is None:
        raise TaskError(f"la tarea {task_id!r} no existe")
    if task.status == "claimed":
        if task.assigned_to == agent_id:
            raise TaskError(f"la tarea {task_id} ya es suya")
        raise TaskError(f"la tarea {task_id} ya la tomó otro gestor ({task.assigned_to})")
    if task.status != "open":
        raise TaskError(_not_pending(task))
    if task.not_before is not None and task.not_before > _now(now):
        raise TaskError(
            f"la tarea {task_id} es una nueva llamada programada: disponible desde "
            f"{local(task.not_before)}"
        )
    raise TaskError(
        f"la tarea {task_id} es del equipo {task.team!r} y el gestor {agent_id!r} es del equipo "
        f"{agent.team!r}"
    )


async def release_task(pool: AsyncConnectionPool, task_id: str, agent_id: str) -> TaskRow:
    """Give a claimed task back to its team's queue."""
    async with pool.connection() as conn, conn.transaction():
        await _agent(conn, agent_id)
        task = await _task_for_update(conn, task_id)
        if task.status == "open":
            raise TaskError(f"la tarea {task_id} no está tomada")
        if task.status != "claimed":
            raise TaskError(_not_pending(task))
        if task.assigned_to != agent_id:
            raise TaskError(
                f"la tarea {task_id} está asignada a otro gestor ({task.assigned_to}); "
                "solo quien la tiene puede liberarla"
            )
        await conn.execute(
            """UPDATE agent_tasks SET status = 'open', last_assigned_to = assigned_to,
                   assigned_to = NULL, claimed_at = NULL, updated_at = now()
               WHERE task_id = %s""",
            (task_id,),
        )
        await _event(conn, task_id, "released", None, agent_id)
    released = await get_task(pool, task_id)
    assert released is not None
    return released


async def reassign_task(
    pool: AsyncConnectionPool, task_id: str, to_agent: str, by_supervisor: str
) -> TaskRow:
    """A supervisor gives an open or claimed task to a given agent."""
    async with pool.connection() as conn, conn.transaction():
        supervisor = await _agent(conn, by_supervisor)
        if supervisor.role != "supervisor":
            raise TaskError(f"{by_supervisor!r} no es supervisor: no puede reasignar tareas")
        target = await _agent(conn, to_agent)
        task = await _task_for_update(conn, task_id)
        if task.status not in ("open", "claimed"):
            raise TaskError(_not_pending(task))
        if task.assigned_to == to_agent:
            raise TaskError(f"la tarea {task_id} ya está asignada a {to_agent!r}")
        await conn.execute(
            """UPDATE agent_tasks SET status = 'claimed', last_assigned_to = assigned_to,
                   assigned_to = %s, claimed_at = now(), updated_at = now()
               WHERE task_id = %s""",
            (target.agent_id, task_id),
        )
        await _event(conn, task_id, "reassigned", target.agent_id, by_supervisor)
    reassigned = await get_task(pool, task_id)
    assert reassigned is not None
    return reassigned


# --- completing a task -----------------------------------------------------------------------------


async def task_view(client: Client, account_id: str) -> TaskView:
    from workflows.collection import CollectionWorkflow

    handle = client.get_workflow_handle_for(CollectionWorkflow.run, workflow_id_for(account_id))
    try:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            raise TaskError(f"la cobranza de la cuenta {account_id} ya terminó")
        return await handle.query(CollectionWorkflow.task_view)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise TaskError(f"la cuenta {account_id} no tiene cobranza") from err
        raise


async def precheck_completion(
    client: Client, pool: AsyncConnectionPool, completion: TaskCompletion
) -> TaskView:
    """Everything the front end can check before sending; raises TaskError naming the problem."""
    async with pool.connection() as conn:
        await _agent(conn, completion.agent_id)
    task = await get_task(pool, completion.task_id)
    if task is None:
        raise TaskError(f"la tarea {completion.task_id!r} no existe")
    if task.status == "open":
        raise TaskError(
            f"la tarea {task.task_id} no está tomada: tómela primero con "
            f"'cobranza task claim {task.task_id} --agent {completion.agent_id}'"
        )
    if task.status != "claimed":
        raise TaskError(_not_pending(task))
    if task.assigned_to != completion.agent_id:
        raise TaskError(f"la tarea {task.task_id} está asignada a otro gestor ({task.assigned_to})")
    view = await task_view(client, task.account_id)
    if view.task is None or view.task.task_id != task.task_id:
        raise TaskError(f"la tarea {task.task_id}: {STALE_MESSAGES['not_open']}")
    problems = completion_problems(completion, CompletionContext.from_view(view, task.kind))
    if problems:
        raise TaskError(_problems_message(task.task_id, problems), problems)
    return view


def _problems_message(task_id: str, problems: Sequence[CompletionProblem]) -> str:
    return f"completación de la tarea {task_id} rechazada: " + "; ".join(
        p.message for p in problems
    )


async def complete_task(
    client: Client,
    pool: AsyncConnectionPool,
    completion: TaskCompletion,
    *,
    note: str | None = None,
) -> CompletionReceipt:
    """Check, store the note, send the completion to the workflow and return its verdict.

    Raises TaskError (Spanish) when refused, before or by the workflow; a refused completion
    leaves nothing behind but the workflow's log row saying it was refused.
    """
    view = await precheck_completion(client, pool, completion)
    note_id: int | None = None
    if note is not None and note.strip():
        if len(note) > 4000:
            raise TaskError("la nota supera 4.000 caracteres")
        async with pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO task_notes (task_id, agent_id, body) VALUES (%s, %s, %s)"
                " RETURNING note_id",
                (completion.task_id, completion.agent_id, note.strip()),
            )
            row = await cur.fetchone()
            assert row is not None
            note_id = int(row[0])
        completion = completion.model_copy(update={"note_id": note_id})
    try:
        receipt = await _send(client, view.account_id, completion)
    except BaseException:
        await _drop_note(pool, note_id)
        raise
    if receipt.status != "accepted":
        await _drop_note(pool, note_id)
        if receipt.status == "rejected":
            raise TaskError(
                _problems_message(completion.task_id, receipt.problems), receipt.problems
            )
        reason = STALE_MESSAGES.get(receipt.reason or "", "la cobranza no espera esta tarea")
        raise TaskError(f"la tarea {completion.task_id}: {reason}")
    return receipt


async def _send(client: Client, account_id: str, completion: TaskCompletion) -> CompletionReceipt:
    from workflows.collection import CollectionWorkflow

    handle = client.get_workflow_handle_for(CollectionWorkflow.run, workflow_id_for(account_id))
    try:
        return await handle.execute_update(CollectionWorkflow.complete_task, completion)
    except WorkflowUpdateFailedError as err:
        raise TaskError(
            f"la cobranza de la cuenta {account_id} no pudo registrar la completación ({err.cause})"
        ) from err
    except RPCError as err:
        if err.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise
        raise TaskError(f"la cobranza de la cuenta {account_id} ya terminó") from err


async def _drop_note(pool: AsyncConnectionPool, note_id: int | None) -> None:
    if note_id is None:
        return
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM task_notes WHERE note_id = %s", (note_id,))


# --- what the agents achieved in a campaign --------------------------------------------------------


class TaskSummary(BaseModel):
    campaign_id: str
    tasks_by_status: dict[str, int]
    completed_by_outcome: dict[str, int]
    agent_promises: int
    agreements_registered: int
    agreements_kept: int
    agreements_broken: int
    holds_started: int

    @property
    def tasks_total(self) -> int:
        return sum(self.tasks_by_status.values())


async def task_summary(pool: AsyncConnectionPool, campaign_id: str) -> TaskSummary:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status, count(*) FROM agent_tasks WHERE campaign_id = %s GROUP BY status",
            (campaign_id,),
        )
        by_status: dict[str, int] = dict(await cur.fetchall())
        cur = await conn.execute(
            """SELECT outcome, count(*) FROM agent_tasks
               WHERE campaign_id = %s AND status = 'completed' GROUP BY outcome""",
            (campaign_id,),
        )
        by_outcome: dict[str, int] = dict(await cur.fetchall())
        cur = await conn.execute(
            """SELECT count(*) FILTER (WHERE l.kind = 'promise_registered'
                                         AND l.detail->>'source' = 'agent'),
                      count(*) FILTER (WHERE l.kind = 'agreement_registered'),
                      count(*) FILTER (WHERE l.kind = 'agreement_kept'),
                      count(*) FILTER (WHERE l.kind = 'agreement_broken'),
                      count(*) FILTER (WHERE l.kind = 'hold_started')
               FROM collection_log l JOIN collections c USING (collection_id)
               WHERE c.campaign_id = %s""",
            (campaign_id,),
        )
        counts = await cur.fetchone()
    assert counts is not None
    promises, registered, kept, broken, holds = counts
    return TaskSummary(
        campaign_id=campaign_id,
        tasks_by_status=by_status,
        completed_by_outcome=by_outcome,
        agent_promises=promises,
        agreements_registered=registered,
        agreements_kept=kept,
        agreements_broken=broken,
        holds_started=holds,
    )
