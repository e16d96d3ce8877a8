"""One Spanish timeline of an account (or of a debtor's accounts), in America/Bogota time.

It merges what Temporal recorded (runs started and ended, timers, signals with who sent them, search
attribute changes) with the business record: each step appears once, marked by whether the history,
the log, or both hold it, and flagged when the two disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from cobranza.audit.history import (
    AccountHistory,
    RunHistory,
    decode_payloads,
    event_time,
)
from cobranza.audit.logrows import LogRow
from cobranza.audit.reconcile import COMPARED_FIELDS, HistoryStep
from cobranza.domain import BOGOTA
from cobranza.durations import format_duration
from cobranza.money import format_cop

Source = Literal["temporal", "registro", "ambos"]

SOURCE_LABELS: dict[Source, str] = {
    "temporal": "historial",
    "registro": "registro",
    "ambos": "historial+registro",
}

KIND_LABELS: dict[str, str] = {
    "opened": "cobranza abierta",
    "contact": "contacto",
    "contact_skipped": "contacto omitido",
    "contact_failed": "contacto fallido",
    "debtor_reply": "respuesta del deudor",
    "wait": "espera",
    "promise_check": "revisión de promesa",
    "escalated": "escalamiento",
    "closed": "cierre",
    "promise_registered": "promesa registrada",
    "promise_rejected": "promesa rechazada",
    "promise_broken": "promesa incumplida",
    "promise_kept": "promesa cumplida",
    "payment_received": "pago recibido",
    "payment_duplicate": "pago duplicado",
    "paused": "pausa",
    "pause_ignored": "pausa ignorada",
    "resumed": "reanudación",
    "resume_ignored": "reanudación ignorada",
    "contact_deferred": "contacto aplazado (ventana legal o topes)",
    "contact_refused": "contacto no permitido",
    "task_opened": "tarea abierta",
    "task_completed": "tarea completada",
    "task_completion_rejected": "completación rechazada",
    "task_completion_stale": "completación fuera de tiempo",
    "task_sla_expired": "plazo de la tarea vencido",
    "task_closed": "tarea cerrada",
    "agreement_registered": "acuerdo de pago registrado",
    "agreement_kept": "acuerdo de pago cumplido",
    "agreement_broken": "acuerdo de pago incumplido",
    "agreement_superseded": "acuerdo de pago reemplazado",
    "hold_started": "gestión suspendida",
    "hold_released": "gestión reanudada",
    "dispute_ignored": "reclamo ignorado",
    "dispute_resolution_ignored": "resolución de reclamo ignorada",
    "bureau_notice": "aviso previo a centrales de riesgo",
    "bureau_report": "reporte a centrales de riesgo",
    "bureau_report_deferred": "reporte a centrales aplazado",
    "bureau_report_refused": "reporte a centrales no permitido",
}

SIGNAL_LABELS: dict[str, str] = {
    "payment_received": "pago",
    "promise_registered": "promesa de pago",
    "pause": "pausa",
    "resume": "reanudación",
    "cancel": "cancelación",
}


class TimelineEntry(BaseModel):
    at: datetime
    account_id: str
    collection_id: str | None = None
    run_id: str | None = None
    source: Source
    event: str
    seq: int | None = None
    event_id: int | None = None
    row_id: int | None = None
    text: str
    warning: str | None = None

    @property
    def local_time(self) -> str:
        return self.at.astimezone(BOGOTA).strftime("%Y-%m-%d %H:%M:%S")


def _value(key: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and key.endswith("_cop"):
        return format_cop(value)
    if value is None:
        return "—"
    return str(value)


def describe_detail(detail: dict[str, Any]) -> str:
    return ", ".join(f"{key}={_value(key, value)}" for key, value in detail.items())


def _step_text(kind: str, stage: str, seq: int, detail: dict[str, Any]) -> str:
    label = KIND_LABELS.get(kind, kind)
    summary = describe_detail(detail)
    return f"#{seq} {label} [{stage}]" + (f": {summary}" if summary else "")


async def _signal_text(event: HistoryEvent) -> str:
    attrs = event.workflow_execution_signaled_event_attributes
    name = attrs.signal_name
    label = SIGNAL_LABELS.get(name, name)
    parts: list[str] = []
    if attrs.input.payloads:
        decoded = (await decode_payloads(attrs.input))[0]
        if isinstance(decoded, dict):
            for key in ("requested_by", "source", "reason", "amount_cop", "reference", "due_at"):
                if decoded.get(key) not in (None, ""):
                    parts.append(f"{key}={_value(key, decoded[key])}")
    if attrs.identity:
        parts.append(f"identidad={attrs.identity}")
    return f"señal recibida: {label} ({name})" + (f": {', '.join(parts)}" if parts else "")


async def _run_entries(account_id: str, collection_id: str, run: RunHistory) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []

    def add(event: HistoryEvent, name: str, text: str) -> None:
        entries.append(
            TimelineEntry(
                at=event_time(event),
                account_id=account_id,
                collection_id=collection_id,
                run_id=run.run_id,
                source="temporal",
                event=name,
                event_id=event.event_id,
                text=text,
            )
        )

    timers: dict[str, str] = {}
    for event in run.history.events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            attrs = event.workflow_execution_started_event_attributes
            text = f"inicio de la run {run.run_id} (colección {collection_id})"
            if attrs.continued_execution_run_id:
                text += f", continúa la run {attrs.continued_execution_run_id}"
            add(event, "workflow_started", text)
        elif kind == EventType.EVENT_TYPE_TIMER_STARTED:
            timer = event.timer_started_event_attributes
            duration = timer.start_to_fire_timeout.ToTimedelta()
            due = (event_time(event) + duration).astimezone(BOGOTA).strftime("%Y-%m-%d %H:%M:%S")
            timers[timer.timer_id] = format_duration(duration)
            add(
                event,
                "timer_started",
                f"temporizador {timer.timer_id} iniciado: {format_duration(duration)}, vence {due}",
            )
        elif kind == EventType.EVENT_TYPE_TIMER_FIRED:
            timer_id = event.timer_fired_event_attributes.timer_id
            add(event, "timer_fired", f"temporizador {timer_id} cumplido ({timers.get(timer_id)})")
        elif kind == EventType.EVENT_TYPE_TIMER_CANCELED:
            timer_id = event.timer_canceled_event_attributes.timer_id
            add(event, "timer_canceled", f"temporizador {timer_id} cancelado antes de vencer")
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            add(event, "signal", await _signal_text(event))
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failure = event.activity_task_failed_event_attributes.failure
            add(event, "activity_failed", f"actividad fallida: {failure.message}")
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            result = event.workflow_execution_completed_event_attributes.result
            decoded = (await decode_payloads(result))[0] if result.payloads else None
            outcome = decoded.get("outcome") if isinstance(decoded, dict) else None
            add(event, "workflow_completed", f"workflow completado: resultado {outcome}")
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            new_run = event.workflow_execution_continued_as_new_event_attributes
            add(
                event,
                "continued_as_new",
                f"continúa como nueva run {new_run.new_execution_run_id} (continue-as-new)",
            )
        elif kind in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        ):
            add(event, "workflow_closed", f"workflow {run.status_label}")
        elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            values = []
            for name, payload in sorted(fields.indexed_fields.items()):
                decoded = (await decode_payloads([payload]))[0] if payload.data else None
                values.append(f"{name}={decoded}")
            add(event, "search_attributes", "atributos de búsqueda: " + ", ".join(values))
    return entries


def _step_entries(
    account_id: str, steps: Sequence[HistoryStep], rows: Sequence[LogRow]
) -> list[TimelineEntry]:
    by_key = {(r.collection_id, r.seq): r for r in rows}
    used: set[int] = set()
    entries: list[TimelineEntry] = []
    for step in steps:
        entry = step.entry
        row = None if step.state == "not_logged" else by_key.get((step.collection_id, entry.seq))
        warning = None
        if step.state == "not_logged":
            warning = "sin fila: la actividad no registró el paso (el seq pasa al siguiente)"
        elif row is None:
            warning = (
                "paso en curso, sin fila aún"
                if step.state == "pending"
                else "sin fila en collection_log"
            )
        else:
            used.add(row.id)
            differing = [
                name
                for name in COMPARED_FIELDS
                if (getattr(entry, name).value if name == "stage" else getattr(entry, name))
                != getattr(row, name)
            ]
            if differing:
                warning = "la fila difiere del historial en: " + ", ".join(differing)
        entries.append(
            TimelineEntry(
                at=entry.occurred_at,
                account_id=account_id,
                collection_id=step.collection_id,
                run_id=entry.run_id,
                source="ambos" if row is not None else "temporal",
                event="step",
                seq=entry.seq,
                event_id=step.event_id,
                row_id=row.id if row is not None else None,
                text=_step_text(entry.kind, entry.stage.value, entry.seq, entry.detail),
                warning=warning,
            )
        )
    for row in rows:
        if row.id in used:
            continue
        entries.append(
            TimelineEntry(
                at=row.occurred_at,
                account_id=account_id,
                collection_id=row.collection_id,
                run_id=row.run_id,
                source="registro",
                event="step",
                seq=row.seq,
                row_id=row.id,
                text=_step_text(row.kind, row.stage, row.seq, row.detail),
                warning="fila sin paso en el historial",
            )
        )
    return entries


def _order(entry: TimelineEntry) -> tuple[datetime, int, int, int]:
    return (entry.at, entry.seq or 0, entry.event_id or 0, entry.row_id or 0)


async def account_timeline(
    account: AccountHistory, steps: Sequence[HistoryStep], rows: Sequence[LogRow]
) -> list[TimelineEntry]:
    entries = _step_entries(account.account_id, steps, rows)
    for collection in account.collections:
        for run in collection.runs:
            entries.extend(await _run_entries(account.account_id, collection.collection_id, run))
    return sorted(entries, key=_order)


def merge_timelines(timelines: Iterable[list[TimelineEntry]]) -> list[TimelineEntry]:
    return sorted((e for timeline in timelines for e in timeline), key=_order)
