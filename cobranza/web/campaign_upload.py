"""Starting a campaign from an uploaded portfolio: the CLI's steps (validate every row with no
server touched, import in one transaction, launch the durable fan-out), for the page and the API.

The upload is streamed to a private temporary folder that is deleted afterwards (it holds PII).
A file with bad rows starts nothing unless the user asked to skip them.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from fastapi import UploadFile
from pydantic import BaseModel

from cobranza.campaign_models import is_valid_campaign_id
from cobranza.campaigns import (
    CampaignConflictError,
    ImportSummary,
    derive_campaign_id,
    import_prepared,
    iter_errors,
    launch_campaign,
    prepare_portfolio,
)
from cobranza.portfolio import FIELD_LABELS, PortfolioFileError
from cobranza.strategy import UnknownStrategyError, load_strategy
from cobranza.web.app import Services
from cobranza.web.security import Principal
from cobranza.web.users import record_action

# Enough for a person to fix a file in one pass; the count says how many more there are.
SHOWN_ERRORS = 500
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


class UploadProblem(BaseModel):
    line: int | None
    field: str | None
    message: str


class UploadResult(BaseModel):
    accepted: bool
    campaign_id: str | None
    message: str
    problems: list[UploadProblem] = []
    problems_total: int = 0
    rejected_lines: int = 0
    rows_valid: int = 0
    imported: ImportSummary | None = None
    launch: str | None = None


def _problem(message: str) -> UploadResult:
    return UploadResult(
        accepted=False, campaign_id=None, message=message, problems=[], problems_total=0
    )


async def _spool(upload: UploadFile, dest: Path) -> int:
    size = 0
    with dest.open("wb") as out:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise ValueError("el archivo supera 512 MB")
            out.write(chunk)
    return size


async def start_from_upload(
    services: Services,
    *,
    upload: UploadFile,
    campaign_id: str | None,
    strategy: str,
    skip_invalid: bool,
    who: Principal,
) -> UploadResult:
    """Validate, import and launch; the attempt is recorded in web_actions either way."""
    result = await _start(
        services,
        upload=upload,
        campaign_id=campaign_id,
        strategy=strategy,
        skip_invalid=skip_invalid,
        source=who.actor,
    )
    await record_action(
        services.pool,
        actor=who.actor,
        action="campaign_start",
        target=result.campaign_id,
        outcome="ok" if result.accepted else "refused",
        detail={"message": result.message, "problems": result.problems_total},
    )
    return result


async def _start(
    services: Services,
    *,
    upload: UploadFile,
    campaign_id: str | None,
    strategy: str,
    skip_invalid: bool,
    source: str,
) -> UploadResult:
    campaign_id = (campaign_id or "").strip() or None
    if campaign_id is not None and not is_valid_campaign_id(campaign_id):
        return _problem(
            f"identificador de campaña {campaign_id!r} inválido: de 1 a 64 letras, dígitos, "
            "'-' o '_'"
        )
    try:
        chosen = load_strategy(strategy)
    except UnknownStrategyError as err:
        return _problem(str(err))
    file_name = Path(upload.filename or "cartera.csv").name
    with tempfile.TemporaryDirectory(prefix="cobranza-upload-") as workdir:
        work = Path(workdir)
        source_path = work / file_name
        try:
            size = await _spool(upload, source_path)
        except ValueError as err:
            return _problem(f"{file_name}: {err}. No se importó ni se inició nada.")
        if size == 0:
            return _problem(f"{file_name}: el archivo está vacío. No se importó ni se inició nada.")
        try:
            prepared = await asyncio.to_thread(prepare_portfolio, source_path, work)
        except PortfolioFileError as err:
            return _problem(f"{file_name}: {err}. No se importó ni se inició nada.")
        problems: list[UploadProblem] = []
        for error in iter_errors(prepared):
            if len(problems) >= SHOWN_ERRORS:
                break
            field = FIELD_LABELS.get(error.field, error.field) if error.field else None
            problems.append(UploadProblem(line=error.line, field=field, message=error.message))
        base = {
            "problems": problems,
            "problems_total": prepared.errors,
            "rejected_lines": prepared.rejected_lines,
            "rows_valid": prepared.rows,
        }
        if prepared.errors and not skip_invalid:
            return UploadResult(
                accepted=False,
                campaign_id=campaign_id,
                message=(
                    f"Archivo rechazado: {prepared.errors} error(es) en {prepared.rejected_lines} "
                    f"línea(s). No se importó ni se inició nada."
                ),
                **base,
            )
        if prepared.rows == 0:
            return UploadResult(
                accepted=False,
                campaign_id=campaign_id,
                message=f"{file_name}: ninguna fila válida; no se importó ni se inició nada.",
                **base,
            )
        campaign_id = campaign_id or derive_campaign_id(file_name, prepared.file_sha256)
        try:
            summary = await import_prepared(
                services.pool,
                prepared,
                campaign_id=campaign_id,
                strategy=chosen.name,
                source=source,
            )
        except CampaignConflictError as err:
            return UploadResult(accepted=False, campaign_id=campaign_id, message=str(err), **base)
    launch = await launch_campaign(
        services.client,
        services.pool,
        campaign_id=campaign_id,
        strategy=chosen,
        task_queue=services.settings.task_queue,
    )
    imported = (
        f"{summary.accounts} cuentas importadas"
        if summary.created
        else (f"la campaña ya estaba importada con este archivo ({summary.accounts} cuentas)")
    )
    return UploadResult(
        accepted=True,
        campaign_id=campaign_id,
        message=f"Campaña {campaign_id}: {imported}; inicio {_LAUNCH[launch]}.",
        imported=summary,
        launch=launch,
        **base,
    )


_LAUNCH = {"started": "en curso", "running": "ya estaba en curso", "finished": "ya terminada"}
