"""Auditors' pages: find an account, read its timeline with the verification result, download its
evidence bundle, jump to the same workflow in the Temporal UI."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response

from cobranza.audit.account import audit_account
from cobranza.audit.timeline import SOURCE_LABELS
from cobranza.audit.verify import NoCollectionError
from cobranza.models import workflow_id_for
from cobranza.web.api import bundle_response
from cobranza.web.app import render, services_of
from cobranza.web.security import Principal, require
from cobranza.web.users import Permission

router = APIRouter(include_in_schema=False)
P = Permission
AccountPath = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
_ACCOUNT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@router.get("/audit")
async def audit_search(
    request: Request,
    _: Annotated[Principal, Depends(require(P.AUDIT_READ))],
    account_id: str = "",
) -> Response:
    account_id = account_id.strip()
    if account_id:
        if _ACCOUNT.match(account_id):
            return RedirectResponse(f"/audit/{account_id}", 303)
        error = "cuenta inválida: use el id interno (letras, dígitos, '-' o '_')"
    else:
        error = None
    services = services_of(request)
    async with services.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT account_id, stage, outcome, campaign_id, updated_at FROM collections
               ORDER BY updated_at DESC LIMIT 20"""
        )
        recent = await cur.fetchall()
    return render(
        request,
        "audit.html",
        {"section": "audit", "recent": recent, "error": error, "query": account_id},
        422 if error else 200,
    )


@router.get("/audit/{account_id}")
async def audit_page(
    request: Request,
    account_id: AccountPath,
    _: Annotated[Principal, Depends(require(P.AUDIT_READ))],
) -> Response:
    services = services_of(request)
    try:
        audit = await audit_account(services.client, services.pool, account_id, verify=True)
    except NoCollectionError as err:
        return render(request, "error.html", {"status": 404, "message": str(err)}, 404)
    return render(
        request,
        "audit_account.html",
        {
            "section": "audit",
            "account_id": account_id,
            "workflow_id": workflow_id_for(account_id),
            "timeline": audit.timeline,
            "report": audit.report,
            "sources": SOURCE_LABELS,
        },
    )


@router.get("/audit/{account_id}/bundle")
async def audit_bundle(
    request: Request,
    account_id: AccountPath,
    who: Annotated[Principal, Depends(require(P.AUDIT_READ))],
) -> Response:
    try:
        return await bundle_response(services_of(request), who, account_id)
    except NoCollectionError as err:
        return render(request, "error.html", {"status": 404, "message": str(err)}, 404)
