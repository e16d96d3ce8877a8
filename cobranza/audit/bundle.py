"""Audit bundles: everything about one account in a folder that checks itself offline.

Layout of DIR:
  histories/<run_id>.json  raw history of each run (Temporal JSON: `WorkflowHistory.from_json`,
                           `temporal workflow show --output json` and the UI's download read it)
  log.jsonl                the account's `collection_log` rows, one JSON object per line, with the
                           exact values the hash chain covers
  verification.json        the `--verify` report made at export time
  manifest.json            SHA-256 of every file above, the collections and their runs in order,
                           and the chain head (the last row's hash)
`verify-bundle DIR` needs no database and no Temporal server.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowHistory

from cobranza.audit.history import RunHistory, account_from_runs
from cobranza.audit.logrows import LogRow, read_rows, write_rows
from cobranza.audit.pii import PiiIndex, fetch_debtors
from cobranza.audit.verify import (
    CHECK_TITLES,
    CheckResult,
    NoCollectionError,
    VerificationReport,
    evaluate,
    load_account,
)
from cobranza.hashchain import GENESIS

BUNDLE_FORMAT = "cobranza-audit-bundle/1"
MANIFEST = "manifest.json"
LOG_FILE = "log.jsonl"
REPORT_FILE = "verification.json"
HISTORY_DIR = "histories"


class BundleCollection(BaseModel):
    collection_id: str
    runs: list[str]


class Manifest(BaseModel):
    format: str
    account_id: str
    workflow_id: str
    exported_at: datetime
    rows: int
    chain_head: str
    collections: list[BundleCollection]
    files: dict[str, str]


class BundleError(ValueError):
    """The folder is not a readable bundle (message in Spanish)."""


class ExportResult(BaseModel):
    path: Path
    manifest_sha256: str
    report: VerificationReport


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def history_file(run_id: str) -> str:
    return f"{HISTORY_DIR}/{run_id}.json"


async def export_bundle(
    client: Client, pool: AsyncConnectionPool, account_id: str, out: Path
) -> ExportResult:
    """Write the bundle to `out` (which must not exist or be empty); all of it or nothing."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out} ya existe y no está vacío; elija otra carpeta")
    account, rows = await load_account(client, pool, account_id)
    if not account.collections and not rows:
        raise NoCollectionError(f"la cuenta {account_id!r} no tiene cobranzas ni registro")
    report = await evaluate(
        account, rows, pii_index=PiiIndex(await fetch_debtors(pool, [account_id]))
    )

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        (staging / HISTORY_DIR).mkdir()
        for run in account.runs:
            (staging / history_file(run.run_id)).write_text(run.history.to_json(), "utf-8")
        write_rows(staging / LOG_FILE, rows)
        (staging / REPORT_FILE).write_text(report.model_dump_json(indent=2), "utf-8")
        files = {
            path.relative_to(staging).as_posix(): sha256_file(path)
            for path in sorted(staging.rglob("*"))
            if path.is_file()
        }
        manifest = Manifest(
            format=BUNDLE_FORMAT,
            account_id=account.account_id,
            workflow_id=account.workflow_id,
            exported_at=datetime.now(UTC),
            rows=len(rows),
            chain_head=rows[-1].hash if rows else GENESIS,
            collections=[
                BundleCollection(collection_id=c.collection_id, runs=[r.run_id for r in c.runs])
                for c in account.collections
            ],
            files=files,
        )
        (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2), "utf-8")
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(path=out, manifest_sha256=sha256_file(out / MANIFEST), report=report)


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST
    if not path.is_file():
        raise BundleError(f"{folder} no es un paquete de auditoría: falta {MANIFEST}")
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except ValidationError as err:
        raise BundleError(f"{path}: manifiesto ilegible ({err.error_count()} error(es))") from err
    if manifest.format != BUNDLE_FORMAT:
        raise BundleError(f"{path}: formato {manifest.format!r} desconocido")
    return manifest


def check_manifest(folder: Path, manifest: Manifest) -> CheckResult:
    problems: list[str] = []
    for name, expected in sorted(manifest.files.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: falta")
        elif sha256_file(path) != expected:
            problems.append(f"{name}: su SHA-256 no coincide con el manifiesto (archivo alterado)")
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {
        MANIFEST
    }
    problems += [
        f"{name}: no figura en el manifiesto" for name in sorted(present - set(manifest.files))
    ]
    expected_files = {LOG_FILE, REPORT_FILE} | {
        history_file(run) for c in manifest.collections for run in c.runs
    }
    problems += [
        f"{name}: el manifiesto no lo lista"
        for name in sorted(expected_files - set(manifest.files))
    ]
    return CheckResult(
        key="manifest",
        title=CHECK_TITLES["manifest"],
        passed=not problems,
        summary=f"{len(manifest.files)} archivo(s) verificados",
        problems=problems,
    )


async def verify_bundle(folder: Path) -> VerificationReport:
    """Manifest hashes, the hash chain from the exported rows, reconciliation, replay: offline."""
    manifest = read_manifest(folder)
    manifest_check = check_manifest(folder, manifest)

    rows: list[LogRow] = []
    row_problems: list[str] = []
    try:
        rows = read_rows(folder / LOG_FILE)
    except (OSError, ValueError) as err:
        row_problems.append(f"{LOG_FILE}: no se pudo leer ({err})")
    head = rows[-1].hash if rows else GENESIS
    if not row_problems and (head != manifest.chain_head or len(rows) != manifest.rows):
        # A truncated or extended log can still be a valid chain: the manifest says where it ends.
        row_problems.append(
            f"{LOG_FILE}: {len(rows)} filas que terminan en {head[:16]}…; el manifiesto dice "
            f"{manifest.rows} filas que terminan en {manifest.chain_head[:16]}…"
        )

    runs: list[RunHistory] = []
    history_problems: list[str] = []
    for collection in manifest.collections:
        for run_id in collection.runs:
            name = history_file(run_id)
            try:
                text = (folder / name).read_text("utf-8")
                history = WorkflowHistory.from_json(manifest.workflow_id, text)
                if not history.events:
                    raise ValueError("historial vacío")
            except (OSError, ValueError) as err:
                history_problems.append(f"{name}: historial ilegible ({err})")
                continue
            if history.run_id != run_id:
                history_problems.append(f"{name}: contiene la run {history.run_id}, no {run_id}")
            runs.append(RunHistory(history))

    report = await evaluate(account_from_runs(manifest.workflow_id, runs), rows, pii_index=None)
    for check in report.checks:
        extra = {"chain": row_problems, "replay": history_problems}.get(check.key, [])
        if extra:
            check.passed = False
            check.problems = [*extra, *check.problems]
    report.account_id = manifest.account_id
    report.checks = [manifest_check, *report.checks]
    report.notes = [
        "verificación sin conexión: la revisión de datos personales se hizo al exportar "
        f"({REPORT_FILE})",
        *report.notes,
    ]
    return report
