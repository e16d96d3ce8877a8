"""One step in the history, one row in the log: the two records answer for each other.

A step is an activity the workflow scheduled whose input is a `LogEntry` (`record_step`) or carries
one as `.entry` (`send_contact`, and any later step activity shaped the same way). The scheduled
event's input is exactly the row the activity writes, so each step is compared with the row of the
same collection and seq, field by field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from temporalio.api.enums.v1 import EventType

from cobranza.audit.history import CollectionHistory, decode_payloads
from cobranza.audit.logrows import LogRow
from cobranza.models import LogEntry

# "not_logged": the activity completed saying it wrote no row (`logged: false`, e.g. a contact the
# debtor's gate deferred); the workflow gives its seq to the next row.
ActivityState = Literal["completed", "not_logged", "failed", "timed_out", "canceled", "pending"]

_ENTRY_KEYS = {"account_id", "workflow_id", "run_id", "collection_id", "seq", "kind"}
# Compared between the scheduled input and the row (collection_id and seq are the key).
COMPARED_FIELDS = ("run_id", "kind", "stage", "detail", "occurred_at", "account_id", "workflow_id")

_ENDS: dict[int, tuple[str, ActivityState]] = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: ("activity_task_completed", "completed"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: ("activity_task_failed", "failed"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: ("activity_task_timed_out", "timed_out"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: ("activity_task_canceled", "canceled"),
}


class HistoryStep(BaseModel):
    collection_id: str
    history_run_id: str
    event_id: int
    activity_type: str
    entry: LogEntry
    state: ActivityState


class Discrepancy(BaseModel):
    problem: Literal[
        "missing_row", "row_without_step", "content_mismatch", "duplicate_step", "unreadable_step"
    ]
    collection_id: str | None = None
    seq: int | None = None
    row_id: int | None = None
    event_id: int | None = None
    field: str | None = None
    message: str


class ReconcileReport(BaseModel):
    steps: int
    rows: int
    matched: int
    # Steps still in flight (scheduled, not finished): no row is owed yet.
    pending: list[str]
    # Steps whose activity failed for good: its transaction rolled back, so no row is owed.
    unrecorded: list[str]
    discrepancies: list[Discrepancy]

    @property
    def passed(self) -> bool:
        return not self.discrepancies


def _entry_payload(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        if value.keys() >= _ENTRY_KEYS:
            return value
        nested = value.get("entry")
        if isinstance(nested, dict) and nested.keys() >= _ENTRY_KEYS:
            return nested
    return None


async def history_steps(
    collection: CollectionHistory, unreadable: list[Discrepancy] | None = None
) -> list[HistoryStep]:
    """The step log inputs of every ActivityTaskScheduled event of one collection, in order."""
    steps: list[HistoryStep] = []
    for run in collection.runs:
        states: dict[int, ActivityState] = {}
        for event in run.history.events:
            end = _ENDS.get(event.event_type)
            if end is None:
                continue
            ended = getattr(event, f"{end[0]}_event_attributes")
            states[ended.scheduled_event_id] = end[1]
            if end[1] == "completed" and ended.result.payloads:
                result = (await decode_payloads(ended.result))[0]
                if isinstance(result, dict) and result.get("logged") is False:
                    states[ended.scheduled_event_id] = "not_logged"
        for event in run.history.events:
            if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                continue
            attrs = event.activity_task_scheduled_event_attributes
            if not attrs.input.payloads:
                continue
            decoded = await decode_payloads(attrs.input)
            raw = _entry_payload(decoded[0]) if decoded else None
            if raw is None:
                continue  # not a step activity
            try:
                entry = LogEntry.model_validate(raw)
            except ValidationError as err:
                if unreadable is not None:
                    unreadable.append(
                        Discrepancy(
                            problem="unreadable_step",
                            collection_id=collection.collection_id,
                            event_id=event.event_id,
                            message=(
                                f"run {run.run_id}, evento {event.event_id}: la entrada de "
                                f"{attrs.activity_type.name} no es un LogEntry válido "
                                f"({err.error_count()} error(es))"
                            ),
                        )
                    )
                continue
            steps.append(
                HistoryStep(
                    collection_id=collection.collection_id,
                    history_run_id=run.run_id,
                    event_id=event.event_id,
                    activity_type=attrs.activity_type.name,
                    entry=entry,
                    state=states.get(event.event_id, "pending"),
                )
            )
    return steps


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= 160 else text[:157] + "..."


def _entry_value(entry: LogEntry, name: str) -> Any:
    value = getattr(entry, name)
    return value.value if name == "stage" else value


def reconcile(steps: Iterable[HistoryStep], rows: Iterable[LogRow]) -> ReconcileReport:
    """Compare steps and rows one to one by (collection_id, seq); report every difference."""
    steps = list(steps)
    rows = list(rows)
    problems: list[Discrepancy] = []
    unrecorded: list[str] = []
    by_key: dict[tuple[str, int], HistoryStep] = {}
    for step in steps:
        if step.state == "not_logged":
            unrecorded.append(
                f"seq {step.entry.seq} ({step.entry.kind}, colección {step.collection_id}, "
                f"evento {step.event_id}): la actividad no escribió fila (contacto no autorizado "
                "por la compuerta del deudor); el seq pasa a la fila siguiente"
            )
            continue
        key = (step.collection_id, step.entry.seq)
        if key in by_key:
            problems.append(
                Discrepancy(
                    problem="duplicate_step",
                    collection_id=step.collection_id,
                    seq=step.entry.seq,
                    event_id=step.event_id,
                    message=(
                        f"colección {step.collection_id}: el seq {step.entry.seq} aparece dos "
                        f"veces en el historial (eventos {by_key[key].event_id} y {step.event_id})"
                    ),
                )
            )
            continue
        by_key[key] = step

    matched: set[tuple[str, int]] = set()
    for row in rows:
        key = (row.collection_id, row.seq)
        found = by_key.get(key)
        if found is None or key in matched:
            problems.append(
                Discrepancy(
                    problem="row_without_step",
                    collection_id=row.collection_id,
                    seq=row.seq,
                    row_id=row.id,
                    message=(
                        f"fila id {row.id} (seq {row.seq}, {row.kind}, colección "
                        f"{row.collection_id}) no corresponde a ningún paso del historial"
                    ),
                )
            )
            continue
        matched.add(key)
        for name in COMPARED_FIELDS:
            expected = _entry_value(found.entry, name)
            actual = getattr(row, name)
            if expected != actual:
                problems.append(
                    Discrepancy(
                        problem="content_mismatch",
                        collection_id=row.collection_id,
                        seq=row.seq,
                        row_id=row.id,
                        event_id=found.event_id,
                        field=name,
                        message=(
                            f"fila id {row.id} (seq {row.seq}): el campo {name} difiere del "
                            f"historial (evento {found.event_id}): historial={_show(expected)}, "
                            f"registro={_show(actual)}"
                        ),
                    )
                )

    pending: list[str] = []
    for key, step in by_key.items():
        if key in matched:
            continue
        label = f"seq {step.entry.seq} ({step.entry.kind}, colección {step.collection_id})"
        if step.state == "pending":
            pending.append(label)
            continue
        if step.state != "completed":
            unrecorded.append(f"{label}: actividad {_STATE_LABELS[step.state]}")
            continue
        problems.append(
            Discrepancy(
                problem="missing_row",
                collection_id=step.collection_id,
                seq=step.entry.seq,
                event_id=step.event_id,
                message=(
                    f"paso {label}, evento {step.event_id} del historial "
                    f"({step.activity_type}, actividad completada), "
                    "no tiene fila en collection_log"
                ),
            )
        )
    problems.sort(key=lambda d: (d.collection_id or "", d.seq or 0, d.row_id or 0))
    return ReconcileReport(
        steps=len(steps),
        rows=len(rows),
        matched=len(matched),
        pending=pending,
        unrecorded=unrecorded,
        discrepancies=problems,
    )


_STATE_LABELS: dict[ActivityState, str] = {
    "completed": "completada",
    "not_logged": "completada sin fila",
    "failed": "fallida",
    "timed_out": "vencida",
    "canceled": "cancelada",
    "pending": "en curso",
}
