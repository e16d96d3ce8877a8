"""Ops pages: campaigns, starting one from an uploaded portfolio, its dashboard and controls."""

from __future__ import annotations

from itertools import accumulate
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response

from cobranza.campaign_models import ControlAction
from cobranza.campaigns import (
    CampaignControlError,
    CampaignNotFoundError,
    control_campaign,
    get_campaign,
    list_campaigns,
)
from cobranza.domain import STAGE_LABELS, Stage
from cobranza.money import format_cop
from cobranza.report import campaign_report, campaign_series
from cobranza.strategy import available_strategies
from cobranza.tasks import task_summary
from cobranza.web.actions import attributed
from cobranza.web.app import NoNul, render, services_of
from cobranza.web.campaign_upload import start_from_upload
from cobranza.web.charts import Series, bar_chart, line_chart
from cobranza.web.security import Principal, require
from cobranza.web.users import Permission

router = APIRouter(include_in_schema=False)
P = Permission
CampaignPath = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
BUCKET_FORMATS = {"minute": "%H:%M", "hour": "%d/%m %Hh", "day": "%d/%m", "week": "%d/%m/%y"}
ACTION_LABELS = {"pause": "pausada", "resume": "reanudada", "cancel": "cancelada"}


@router.get("/campaigns")
async def campaigns(
    request: Request, _: Annotated[Principal, Depends(require(P.CAMPAIGNS_READ))]
) -> Response:
    rows = await list_campaigns(services_of(request).pool)
    return render(request, "campaigns.html", {"section": "campaigns", "campaigns": rows})


@router.get("/campaigns/new")
async def new_campaign(
    request: Request, _: Annotated[Principal, Depends(require(P.CAMPAIGNS_WRITE))]
) -> Response:
    return render(
        request,
        "campaign_new.html",
        {"section": "campaigns", "strategies": available_strategies(), "result": None},
    )


@router.post("/campaigns/new")
async def upload_campaign(
    request: Request,
    who: Annotated[Principal, Depends(require(P.CAMPAIGNS_WRITE))],
    file: Annotated[UploadFile, File()],
    strategy: Annotated[str, Form(max_length=64)] = "default",
    campaign_id: Annotated[str, Form(max_length=64)] = "",
    skip_invalid: Annotated[bool, Form()] = False,
) -> Response:
    services = services_of(request)
    result = await start_from_upload(
        services,
        upload=file,
        campaign_id=campaign_id,
        strategy=strategy,
        skip_invalid=skip_invalid,
        who=who,
    )
    if result.accepted and result.campaign_id:
        return RedirectResponse(f"/campaigns/{result.campaign_id}?started=1", 303)
    return render(
        request,
        "campaign_new.html",
        {
            "section": "campaigns",
            "strategies": available_strategies(),
            "result": result,
            "chosen": strategy,
            "campaign_id": campaign_id,
        },
        422,
    )


@router.get("/campaigns/{campaign_id}")
async def campaign_page(
    request: Request,
    campaign_id: CampaignPath,
    who: Annotated[Principal, Depends(require(P.CAMPAIGNS_READ))],
    started: int = 0,
    done: ControlAction | None = None,
) -> Response:
    services = services_of(request)
    row = await get_campaign(services.pool, campaign_id)
    if row is None:
        return render(
            request,
            "error.html",
            {"status": 404, "message": f"la campaña {campaign_id!r} no existe"},
            404,
        )
    report = await campaign_report(services.pool, campaign_id)
    series = await campaign_series(services.pool, campaign_id)
    tasks = await task_summary(services.pool, campaign_id)
    funnel = bar_chart(
        [(STAGE_LABELS[Stage(s)], n) for s, n in series.funnel.items()],
        "Embudo de etapas: cuentas que llegaron a cada etapa",
    )
    labels = [p.bucket.strftime(BUCKET_FORMATS[series.unit]) for p in series.points]
    promises = line_chart(
        labels,
        [
            Series("Promesas cumplidas", "kept", [p.promises_kept for p in series.points]),
            Series("Promesas incumplidas", "broken", [p.promises_broken for p in series.points]),
        ],
        "Promesas cumplidas e incumplidas en el tiempo",
    )
    recovered = line_chart(
        labels,
        [
            Series(
                "COP recuperado (acumulado)",
                "cop",
                list(accumulate(p.recovered_cop for p in series.points)),
            )
        ],
        "COP recuperado en el tiempo",
        value_format=format_cop,
    )
    flashes = []
    if started:
        flashes.append(("ok", f"Campaña {campaign_id} iniciada: las cuentas se están abriendo."))
    if done:
        flashes.append(("ok", f"Campaña {campaign_id} {ACTION_LABELS[done]}."))
    in_progress = row.status in ("imported", "starting") or report.open_accounts > 0
    # The campaign records "cancelled" just after the cancel returns: reload until it shows.
    in_progress = in_progress or (done == "cancel" and row.status != "cancelled")
    return render(
        request,
        "campaign.html",
        {
            "section": "campaigns",
            "campaign": row,
            "report": report,
            "kpis": report.kpis,
            "tasks": tasks,
            "funnel": funnel,
            "promises_chart": promises,
            "recovered_chart": recovered,
            "unit": series.unit,
            "flashes": flashes,
            "can_control": who.can(P.CAMPAIGNS_WRITE),
            # Progress without JavaScript: the page reloads itself while accounts are open.
            "refresh": 5 if in_progress else None,
        },
    )


@router.post("/campaigns/{campaign_id}/control")
async def campaign_control(
    request: Request,
    campaign_id: CampaignPath,
    who: Annotated[Principal, Depends(require(P.CAMPAIGNS_WRITE))],
    action: Annotated[ControlAction, Form()],
    reason: Annotated[str, Form(max_length=500), NoNul] = "",
) -> Response:
    services = services_of(request)
    work = control_campaign(
        services.client,
        services.pool,
        campaign_id=campaign_id,
        action=action,
        requested_by=who.actor,
        reason=reason.strip(),
    )
    try:
        await attributed(
            services.pool,
            who,
            f"campaign_{action}",
            campaign_id,
            work,
            refusals=(CampaignControlError,),
            detail=lambda result: {"signalled": result.signalled},
        )
    except CampaignNotFoundError as err:
        return render(request, "error.html", {"status": 404, "message": str(err)}, 404)
    except CampaignControlError as err:
        return render(request, "error.html", {"status": 409, "message": str(err)}, 409)
    return RedirectResponse(f"/campaigns/{campaign_id}?done={action}", 303)
