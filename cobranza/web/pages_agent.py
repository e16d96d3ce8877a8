"""Agents' and supervisors' pages: the worklist, a task with its account, the completion form,
team worklists with SLA breaches, reassignment. Everything goes through cobranza.tasks, the same
calls the CLI makes; completions reach the workflow as its `complete_task` Update."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response
from psycopg.rows import dict_row

from cobranza.audit.timeline import KIND_LABELS, describe_detail
from cobranza.domain import TASK_OUTCOME_LABELS, TASK_OUTCOMES_BY_KIND, TaskKind
from cobranza.models import CollectionStatus
from cobranza.operations import OperationError, account_status
from cobranza.task_input import CompletionInputError, build_completion
from cobranza.tasks import (
    EFFECT_LABELS,
    OUTCOME_EFFECTS,
    TaskError,
    TaskRow,
    claim_task,
    complete_task,
    list_agents,
    list_tasks,
    reassign_task,
    release_task,
)
from cobranza.web.access import NotFound, visible_task
from cobranza.web.actions import attributed
from cobranza.web.app import NoNul, Services, render, services_of
from cobranza.web.security import Principal, require
from cobranza.web.users import Permission

router = APIRouter(include_in_schema=False)
P = Permission
TaskPath = Annotated[str, PathParam(pattern=r"^T-[0-9a-f]{16}$")]
HISTORY_ROWS = 15
# What each form field is called on the page (the messages name fields this way).
FORM_NAMES = {
    "outcome": "Resultado",
    "amount_cop": "Monto",
    "due_at": "Fecha de pago",
    "installments": "Cuotas",
    "call_back_at": "Volver a llamar",
    "reference": "Referencia del pago",
    "task_id": "Tarea",
    "agent_id": "Gestor",
}
# CompletionProblem / InputProblem field -> form input name.
FORM_FIELDS = {"amount_cop": "amount", "due_at": "due", "call_back_at": "call_back_at"}


def _flash(request: Request) -> list[tuple[str, str]]:
    done = request.query_params.get("ok")
    return [("ok", done)] if done else []


@router.get("/tasks")
async def worklist(
    request: Request, who: Annotated[Principal, Depends(require(P.TASKS_WORK))]
) -> Response:
    services = services_of(request)
    try:
        tasks = await list_tasks(services.pool, agent_id=who.name)
    except TaskError as err:
        return render(request, "error.html", {"status": 403, "message": str(err)}, 403)
    mine = [t for t in tasks if t.assigned_to == who.name]
    offered = [t for t in tasks if t.status == "open"]
    return render(
        request,
        "worklist.html",
        {
            "section": "tasks",
            "mine": mine,
            "offered": offered,
            "now": datetime.now(UTC),
            "flashes": _flash(request),
            "error": request.query_params.get("error"),
        },
    )


async def _task_action(
    request: Request, who: Principal, task_id: str, action: str, call: Any
) -> Response:
    services = services_of(request)
    try:
        await visible_task(services.pool, who, task_id)
    except NotFound as err:
        call.close()
        return render(request, "error.html", {"status": 404, "message": str(err)}, 404)
    try:
        await attributed(services.pool, who, action, task_id, call, refusals=(TaskError,))
    except TaskError as err:
        return render(request, "error.html", {"status": 409, "message": str(err)}, 409)
    return RedirectResponse(f"/tasks/{task_id}" if action == "task_claim" else "/tasks", 303)


@router.post("/tasks/{task_id}/claim")
async def claim(
    request: Request, task_id: TaskPath, who: Annotated[Principal, Depends(require(P.TASKS_WORK))]
) -> Response:
    services = services_of(request)
    return await _task_action(
        request, who, task_id, "task_claim", claim_task(services.pool, task_id, who.name)
    )


@router.post("/tasks/{task_id}/release")
async def release(
    request: Request, task_id: TaskPath, who: Annotated[Principal, Depends(require(P.TASKS_WORK))]
) -> Response:
    services = services_of(request)
    return await _task_action(
        request, who, task_id, "task_release", release_task(services.pool, task_id, who.name)
    )


@router.post("/tasks/{task_id}/reassign")
async def reassign(
    request: Request,
    task_id: TaskPath,
    who: Annotated[Principal, Depends(require(P.TASKS_ASSIGN))],
    agent_id: Annotated[str, Form(max_length=64), NoNul],
) -> Response:
    services = services_of(request)
    try:
        await attributed(
            services.pool,
            who,
            "task_reassign",
            task_id,
            reassign_task(services.pool, task_id, agent_id.strip(), who.name),
            refusals=(TaskError,),
            detail=lambda _: {"to": agent_id.strip()},
        )
    except TaskError as err:
        return render(request, "error.html", {"status": 409, "message": str(err)}, 409)
    return RedirectResponse(f"/team?ok=Tarea {task_id} asignada a {agent_id.strip()}", 303)


async def _account_context(services: Services, task: TaskRow) -> dict[str, Any]:
    """The account behind a task: its status, the debtor's contact data and recent steps."""
    status: CollectionStatus | None = None
    status_error = None
    try:
        status = await account_status(services.client, task.account_id)
    except OperationError as err:
        status_error = str(err)
    async with services.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT d.full_name, d.document_type, d.phone, d.email, d.city,
                      d.authorized_channels, a.product
               FROM accounts a JOIN debtors d USING (debtor_id) WHERE a.account_id = %s""",
            (task.account_id,),
        )
        debtor = await cur.fetchone()
        await cur.execute(
            """SELECT seq, kind, stage, occurred_at, detail FROM collection_log
               WHERE account_id = %s ORDER BY id DESC LIMIT %s""",
            (task.account_id, HISTORY_ROWS),
        )
        history = [
            {
                **row,
                "label": KIND_LABELS.get(row["kind"], row["kind"].replace("_", " ")),
                "summary": describe_detail(row["detail"]),
            }
            for row in await cur.fetchall()
        ]
    return {"status": status, "status_error": status_error, "debtor": debtor, "history": history}


def _outcomes(kind: str) -> list[tuple[str, str, str]]:
    allowed = TASK_OUTCOMES_BY_KIND[TaskKind(kind)]
    return [
        (o.value, TASK_OUTCOME_LABELS[o], EFFECT_LABELS[OUTCOME_EFFECTS[o]])
        for o in TASK_OUTCOME_LABELS
        if o in allowed
    ]


async def _task_page(
    request: Request,
    who: Principal,
    task: TaskRow,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    summary: str | None = None,
    status_code: int = 200,
) -> Response:
    services = services_of(request)
    context = await _account_context(services, task)
    return render(
        request,
        "task.html",
        {
            "section": "tasks",
            "task": task,
            "outcomes": _outcomes(task.kind),
            "mine": task.assigned_to == who.name and task.status == "claimed",
            "can_work": who.can(P.TASKS_WORK),
            "form": form or {},
            "errors": errors or {},
            "summary": summary,
            "flashes": _flash(request),
            "now": datetime.now(UTC),
            **context,
        },
        status_code,
    )


@router.get("/tasks/{task_id}")
async def task_page(
    request: Request, task_id: TaskPath, who: Annotated[Principal, Depends(require(P.TASKS_READ))]
) -> Response:
    try:
        task = await visible_task(services_of(request).pool, who, task_id)
    except NotFound as err:
        return render(request, "error.html", {"status": 404, "message": str(err)}, 404)
    return await _task_page(request, who, task)


@router.post("/tasks/{task_id}/complete")
async def complete(
    request: Request,
    task_id: TaskPath,
    who: Annotated[Principal, Depends(require(P.TASKS_WORK))],
    outcome: Annotated[str, Form(max_length=64)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
    due: Annotated[str, Form(max_length=40)] = "",
    installments: Annotated[str, Form(max_length=4000)] = "",
    call_back_at: Annotated[str, Form(max_length=40)] = "",
    reference: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=4000), NoNul] = "",
) -> Response:
    services = services_of(request)
    try:
        task = await visible_task(services.pool, who, task_id)
    except NotFound as err:
        return render(request, "error.html", {"status": 404, "message": str(err)}, 404)
    form = {
        "outcome": outcome,
        "amount": amount,
        "due": due,
        "installments": installments,
        "call_back_at": call_back_at,
        "reference": reference,
        "note": note,
    }
    errors: dict[str, list[str]] = {}
    try:
        completion = build_completion(
            task_id=task_id,
            agent_id=who.name,
            outcome=outcome,
            amount=amount,
            due=due,
            installments=installments,
            at=call_back_at,
            reference=reference,
            names=FORM_NAMES,
        )
        await attributed(
            services.pool,
            who,
            "task_complete",
            task_id,
            complete_task(services.client, services.pool, completion, note=note or None),
            refusals=(TaskError,),
            detail=lambda _: {"outcome": completion.outcome.value},
        )
    except CompletionInputError as err:
        for problem in err.problems:
            errors.setdefault(FORM_FIELDS.get(problem.field, problem.field), []).append(
                problem.message
            )
        return await _task_page(
            request, who, task, form=form, errors=errors, summary=str(err), status_code=422
        )
    except TaskError as err:
        for p in err.problems:
            errors.setdefault(FORM_FIELDS.get(p.field, p.field), []).append(p.message)
        return await _task_page(
            request, who, task, form=form, errors=errors, summary=str(err), status_code=422
        )
    label = TASK_OUTCOME_LABELS[completion.outcome]
    effect = EFFECT_LABELS[OUTCOME_EFFECTS[completion.outcome]]
    return RedirectResponse(f"/tasks/{task_id}?ok=Tarea completada: {label}; {effect}.", 303)


@router.get("/team")
async def team_page(
    request: Request, who: Annotated[Principal, Depends(require(P.TASKS_ASSIGN))]
) -> Response:
    services = services_of(request)
    tasks = await list_tasks(services.pool, limit=1000)
    agents = [a for a in await list_agents(services.pool) if a.active]
    now = datetime.now(UTC)
    teams: dict[str, list[TaskRow]] = {}
    for task in tasks:
        teams.setdefault(task.team, []).append(task)
    breaches = [t for t in tasks if t.due_at < now]
    return render(
        request,
        "team.html",
        {
            "section": "team",
            "teams": dict(sorted(teams.items())),
            "agents": agents,
            "breaches": breaches,
            "now": now,
            "flashes": _flash(request),
        },
    )
