"""The JSON API under /api (OpenAPI at /openapi.json), for gateways, core banking and scripts.

Every route names the permission it needs; a bearer token carries scopes, a console session its
user's role. Errors are `{"detail": "<Spanish>", "problems": [...]}` with 4xx codes.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, Field, PositiveInt

from cobranza.audit.account import audit_account
from cobranza.audit.bundle import export_bundle
from cobranza.audit.timeline import TimelineEntry
from cobranza.audit.verify import NoCollectionError, VerificationReport
from cobranza.campaign_models import ControlAction, ControlResult
from cobranza.campaigns import (
    CampaignControlError,
    CampaignRow,
    control_campaign,
    get_campaign,
    list_campaigns,
)
from cobranza.models import AccountId, CollectionStatus, CompletionReceipt, PaymentReference
from cobranza.operations import OperationError, account_status, report_payment
from cobranza.report import CampaignReport, campaign_report
from cobranza.task_input import CompletionInputError, build_completion
from cobranza.tasks import (
    TaskError,
    TaskRow,
    claim_task,
    complete_task,
    list_tasks,
    reassign_task,
    release_task,
)
from cobranza.web.access import NotFound, check_account, visible_task
from cobranza.web.actions import attributed
from cobranza.web.app import NoNul, Services, services_of
from cobranza.web.campaign_upload import UploadResult, start_from_upload
from cobranza.web.security import Principal, require
from cobranza.web.users import Permission, Role, record_action

router = APIRouter(tags=["api"])
P = Permission
AccountPath = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
TaskPath = Annotated[str, PathParam(pattern=r"^T-[0-9a-f]{16}$")]
CampaignPath = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class ApiError(BaseModel):
    detail: str
    problems: list[dict[str, Any]] = []


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ApiError, "description": "sin autenticación"},
    403: {"model": ApiError, "description": "sin permiso"},
    404: {"model": ApiError, "description": "no existe"},
    409: {"model": ApiError, "description": "en conflicto con el estado actual"},
    422: {"model": ApiError, "description": "datos inválidos"},
}


ServicesDep = Annotated[Services, Depends(services_of)]


def refused(status: int, message: str, problems: list[dict[str, Any]] | None = None) -> Response:
    return JSONResponse({"detail": message, "problems": problems or []}, status_code=status)


# --- accounts and payments -------------------------------------------------------------------------


@router.get("/accounts/{account_id}", response_model=CollectionStatus, responses=ERRORS)
async def get_account(
    account_id: AccountPath,
    svc: ServicesDep,
    who: Annotated[Principal, Depends(require(P.ACCOUNTS_READ))],
) -> Any:
    """Estado de la cobranza de una cuenta (etapa, saldo, paso, promesa, resultado)."""
    await check_account(svc.pool, who, account_id)
    try:
        return await account_status(svc.client, account_id)
    except OperationError as err:
        return refused(404, str(err))


class PaymentIn(BaseModel):
    account_id: AccountId
    amount_cop: PositiveInt = Field(le=10**13)
    reference: PaymentReference
    paid_at: AwareDatetime | None = None


class PaymentOut(BaseModel):
    account_id: str
    reference: str
    status: Literal["applied", "duplicate"]


@router.post("/payments", response_model=PaymentOut, responses=ERRORS, status_code=200)
async def post_payment(
    payment: PaymentIn,
    svc: ServicesDep,
    who: Annotated[Principal, Depends(require(P.PAYMENTS_WRITE))],
) -> Any:
    """Un pago recibido. Idempotente por referencia: repetirla no lo cuenta dos veces."""
    work = report_payment(
        svc.client,
        svc.pool,
        account_id=payment.account_id,
        amount_cop=payment.amount_cop,
        reference=payment.reference,
        paid_at=payment.paid_at,
        source=who.actor,
    )
    try:
        outcome = await attributed(
            svc.pool,
            who,
            "payment",
            payment.account_id,
            work,
            refusals=(OperationError,),
            detail=lambda status: {
                "reference": payment.reference,
                "amount_cop": payment.amount_cop,
                "status": status,
            },
        )
    except OperationError as err:
        return refused(404 if "no tiene cobranza" in str(err) else 409, str(err))
    return PaymentOut(account_id=payment.account_id, reference=payment.reference, status=outcome)


# --- tasks -----------------------------------------------------------------------------------------

TaskStatus = Literal["open", "claimed", "completed", "expired", "closed"]


@router.get("/tasks", response_model=list[TaskRow], responses=ERRORS)
async def get_tasks(
    svc: ServicesDep,
    who: Annotated[Principal, Depends(require(P.TASKS_READ))],
    status: Annotated[list[TaskStatus] | None, Query()] = None,
    team: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")] = None,
    campaign_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Any:
    """La lista de trabajo, la más urgente primero. Un gestor ve solo las suyas y las de su
    equipo."""
    statuses = status or ["open", "claimed"]
    if who.role is Role.AGENT:
        if team is not None and team != who.team:
            return refused(403, f"solo puede ver las tareas de su equipo ({who.team})")
        team = who.team
    try:
        tasks = await list_tasks(
            svc.pool, team=team, campaign_id=campaign_id, statuses=statuses, limit=limit
        )
    except TaskError as err:
        return refused(409, str(err))
    return tasks


@router.get("/tasks/{task_id}", response_model=TaskRow, responses=ERRORS)
async def get_task_route(
    task_id: TaskPath, svc: ServicesDep, who: Annotated[Principal, Depends(require(P.TASKS_READ))]
) -> Any:
    try:
        return await visible_task(svc.pool, who, task_id)
    except NotFound as err:
        return refused(404, str(err))


async def _task_action(svc: Services, who: Principal, task_id: str, action: str, call: Any) -> Any:
    try:
        await visible_task(svc.pool, who, task_id)
    except NotFound as err:
        call.close()
        return refused(404, str(err))
    try:
        return await attributed(svc.pool, who, action, task_id, call, refusals=(TaskError,))
    except TaskError as err:
        return refused(409, str(err))


@router.post("/tasks/{task_id}/claim", response_model=TaskRow, responses=ERRORS)
async def claim(
    task_id: TaskPath, svc: ServicesDep, who: Annotated[Principal, Depends(require(P.TASKS_WORK))]
) -> Any:
    """Tomar una tarea abierta de su equipo."""
    return await _task_action(
        svc, who, task_id, "task_claim", claim_task(svc.pool, task_id, who.name)
    )


@router.post("/tasks/{task_id}/release", response_model=TaskRow, responses=ERRORS)
async def release(
    task_id: TaskPath, svc: ServicesDep, who: Annotated[Principal, Depends(require(P.TASKS_WORK))]
) -> Any:
    """Devolver una tarea tomada a la cola del equipo."""
    return await _task_action(
        svc, who, task_id, "task_release", release_task(svc.pool, task_id, who.name)
    )


class ReassignIn(BaseModel):
    agent_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")


@router.post("/tasks/{task_id}/reassign", response_model=TaskRow, responses=ERRORS)
async def reassign(
    task_id: TaskPath,
    body: ReassignIn,
    svc: ServicesDep,
    who: Annotated[Principal, Depends(require(P.TASKS_ASSIGN))],
) -> Any:
    """(Supervisores) asignar una tarea a un gestor."""
    return await _task_action(
        svc,
        who,
        task_id,
        "task_reassign",
        reassign_task(svc.pool, task_id, body.agent_id, who.name),
    )


class CompletionIn(BaseModel):
    """Lo que el gestor registró; montos en COP como texto colombiano o número."""

    outcome: str = Field(max_length=64)
    amount: str | None = Field(default=None, max_length=40)
    due: str | None = Field(default=None, max_length=40, description="AAAA-MM-DD")
    installments: str | None = Field(
        default=None, max_length=4000, description="AAAA-MM-DD:COP,AAAA-MM-DD:COP,..."
    )
    call_back_at: str | None = Field(default=None, max_length=40, description="AAAA-MM-DDTHH:MM")
    reference: str | None = Field(default=None, max_length=64)
    note: Annotated[str | None, NoNul] = Field(default=None, max_length=4000)


@router.post("/tasks/{task_id}/complete", response_model=CompletionReceipt, responses=ERRORS)
async def complete(
    task_id: TaskPath,
    body: CompletionIn,
    svc: ServicesDep,
    who: Annotated[Principal, Depends(require(P.TASKS_WORK))],
) -> Any:
    """Registrar el resultado de una tarea tomada: la cobranza lo valida y actúa."""
    try:
        await visible_task(svc.pool, who, task_id)
        completion = build_completion(
            task_id=task_id,
            agent_id=who.name,
            outcome=body.outcome,
            amount=body.amount,
            due=body.due,
            installments=body.installments,
            at=body.call_back_at,
            reference=body.reference,
            names=API_NAMES,
        )
        receipt = await attributed(
            svc.pool,
            who,
            "task_complete",
            task_id,
            complete_task(svc.client, svc.pool, completion, note=body.note),
            refusals=(TaskError,),
            detail=lambda _: {"outcome": completion.outcome.value},
        )
    except NotFound as err:
        return refused(404, str(err))
    except CompletionInputError as err:
        return refused(422, str(err), [p.model_dump() for p in err.problems])
    except TaskError as err:
        problems = [p.model_dump() for p in err.problems]
        return refused(422 if problems else 409, str(err), problems)
    return receipt


API_NAMES = {
    "outcome": "outcome",
    "amount_cop": "amount",
    "due_at": "due",
    "installments": "installments",
    "call_back_at": "call_back_at",
    "reference": "reference",
    "task_id": "task_id",
    "agent_id": "agent_id",
}


# --- campaigns -------------------------------------------------------------------------------------


@router.get("/campaigns", response_model=list[CampaignRow], responses=ERRORS)
async def get_campaigns(
    svc: ServicesDep, _: Annotated[Principal, Depends(require(P.CAMPAIGNS_READ))]
) -> Any:
    return await list_campaigns(svc.pool)


@router.post("/campaigns", response_model=UploadResult, responses=ERRORS)
async def post_campaign(
    svc: ServicesDep,
    who: Annotated[Principal, Depends(require(P.CAMPAIGNS_WRITE))],
    file: Annotated[UploadFile, File(description="Cartera en CSV (UTF-8, con encabezado)")],
    strategy: Annotated[str, Form(max_length=64)] = "default",
    campaign_id: Annotated[str | None, Form(max_length=64)] = None,
    skip_invalid: Annotated[bool, Form()] = False,
) -> Any:
    """Importar una cartera e iniciarla como campaña (idempotente por archivo). Un archivo con
    filas inválidas no inicia nada (422) salvo con skip_invalid."""
    result = await start_from_upload(
        svc,
        upload=file,
        campaign_id=campaign_id,
        strategy=strategy,
        skip_invalid=skip_invalid,
        who=who,
    )
    if not result.accepted:
        return JSONResponse(result.model_dump(mode="json"), status_code=422)
    return result


class CampaignDetail(BaseModel):
    campaign: CampaignRow
    report: CampaignReport  # with its KPIs


@router.get("/campaigns/{campaign_id}", response_model=CampaignDetail, responses=ERRORS)
async def get_campaign_route(
    campaign_id: CampaignPath,
    svc: ServicesDep,
    _: Annotated[Principal, Depends(require(P.CAMPAIGNS_READ))],
) -> Any:
    row = await get_campaign(svc.pool, campaign_id)
    if row is None:
        return refused(404, f"la campaña {campaign_id!r} no existe")
    return CampaignDetail(
        campaign=row,
        report=await campaign_report(svc.pool, campaign_id),
    )


class ControlIn(BaseModel):
    action: ControlAction
    reason: Annotated[str, NoNul] = Field(default="", max_length=500)


@router.post("/campaigns/{campaign_id}/control", response_model=ControlResult, responses=ERRORS)
async def control(
    campaign_id: CampaignPath,
    body: ControlIn,
    svc: ServicesDep,
    who: Annotated[Principal, Depends(require(P.CAMPAIGNS_WRITE))],
) -> Any:
    """Pausar, reanudar o cancelar todas las cuentas de la campaña."""
    if await get_campaign(svc.pool, campaign_id) is None:
        return refused(404, f"la campaña {campaign_id!r} no existe")
    work = control_campaign(
        svc.client,
        svc.pool,
        campaign_id=campaign_id,
        action=body.action,
        requested_by=who.actor,
        reason=body.reason,
    )
    try:
        return await attributed(
            svc.pool,
            who,
            f"campaign_{body.action}",
            campaign_id,
            work,
            refusals=(CampaignControlError,),
            detail=lambda result: {"signalled": result.signalled},
        )
    except CampaignControlError as err:
        return refused(409, str(err))


# --- audit -----------------------------------------------------------------------------------------


class TimelineOut(BaseModel):
    account_id: str
    workflow_id: str
    timeline: list[TimelineEntry]


@router.get("/audit/{account_id}", response_model=TimelineOut, responses=ERRORS)
async def audit_timeline(
    account_id: AccountPath,
    svc: ServicesDep,
    _: Annotated[Principal, Depends(require(P.AUDIT_READ))],
) -> Any:
    """La línea de tiempo de la cuenta: historial de Temporal y registro de Postgres, unidos."""
    try:
        audit = await audit_account(svc.client, svc.pool, account_id, verify=False)
    except NoCollectionError as err:
        return refused(404, str(err))
    return TimelineOut(
        account_id=account_id, workflow_id=audit.account.workflow_id, timeline=audit.timeline
    )


@router.get("/audit/{account_id}/verify", response_model=VerificationReport, responses=ERRORS)
async def audit_verify(
    account_id: AccountPath,
    svc: ServicesDep,
    _: Annotated[Principal, Depends(require(P.AUDIT_READ))],
) -> Any:
    """Las cuatro verificaciones: cadena de hashes, conciliación, replay y ausencia de PII."""
    try:
        audit = await audit_account(svc.client, svc.pool, account_id, verify=True)
    except NoCollectionError as err:
        return refused(404, str(err))
    return audit.report


async def bundle_response(svc: Services, who: Principal, account_id: str) -> Response:
    """The evidence bundle (`cobranza audit export`) as one zip download; each export is recorded.
    Raises NoCollectionError for an unknown account."""
    with tempfile.TemporaryDirectory(prefix="cobranza-bundle-") as workdir:
        out = Path(workdir) / f"evidencia-{account_id}"
        result = await export_bundle(svc.client, svc.pool, account_id, out)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    archive.write(path, f"{out.name}/{path.relative_to(out).as_posix()}")
    await record_action(
        svc.pool, actor=who.actor, action="audit_export", target=account_id, outcome="ok"
    )
    stamp = datetime.now().strftime("%Y%m%d")
    name = f"evidencia-{account_id}-{stamp}-{result.manifest_sha256[:8]}.zip"
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/audit/{account_id}/export",
    responses={**ERRORS, 200: {"content": {"application/zip": {}}, "description": "paquete zip"}},
    response_class=Response,
)
async def audit_export(
    account_id: AccountPath,
    svc: ServicesDep,
    who: Annotated[Principal, Depends(require(P.AUDIT_READ))],
) -> Response:
    """El paquete de evidencia (historiales, filas del registro, informe y manifiesto) en zip."""
    try:
        return await bundle_response(svc, who, account_id)
    except NoCollectionError as err:
        raise HTTPException(404, str(err)) from err
