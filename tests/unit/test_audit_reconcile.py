"""Reconciliation of history steps with log rows: every difference is named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cobranza.audit.logrows import LogRow
from cobranza.audit.reconcile import ActivityState, HistoryStep, reconcile
from cobranza.domain import Stage
from cobranza.models import LogEntry

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def step(seq: int, kind: str = "wait", state: ActivityState = "completed") -> HistoryStep:
    entry = LogEntry(
        account_id="A",
        workflow_id="collection-A",
        run_id="R1",
        collection_id="C1",
        seq=seq,
        kind=kind,
        stage=Stage.PREVENTIVA,
        detail={"step": f"s{seq}"},
        occurred_at=T0 + timedelta(minutes=seq),
        campaign_id=None,
        strategy="default",
        balance_cop=1,
        original_balance_cop=1,
    )
    return HistoryStep(
        collection_id="C1",
        history_run_id="R1",
        event_id=10 + seq,
        activity_type="record_step",
        entry=entry,
        state=state,
    )


def row(seq: int, row_id: int | None = None, **changes: object) -> LogRow:
    base = step(seq).entry
    values = {
        "id": row_id or 100 + seq,
        "account_id": "A",
        "workflow_id": "collection-A",
        "run_id": "R1",
        "collection_id": "C1",
        "seq": seq,
        "kind": base.kind,
        "stage": "preventiva",
        "detail": base.detail,
        "occurred_at": base.occurred_at,
        "recorded_at": base.occurred_at,
        "prev_hash": "0" * 64,
        "hash": f"{seq:064d}",
    }
    return LogRow.model_validate(values | changes)


def test_matching_records_pass() -> None:
    report = reconcile([step(1), step(2)], [row(1), row(2)])
    assert report.passed and report.matched == 2


def test_each_kind_of_difference_is_named() -> None:
    report = reconcile(
        [step(1), step(2), step(3), step(4, state="pending"), step(5, state="failed")],
        [row(1, detail={"step": "other"}), row(3), row(9)],
    )
    problems = {(d.problem, d.seq, d.row_id, d.field) for d in report.discrepancies}
    assert problems == {
        ("content_mismatch", 1, 101, "detail"),
        ("missing_row", 2, None, None),
        ("row_without_step", 9, 109, None),
    }
    # In flight, or rolled back with its failed activity: no row is owed.
    assert len(report.pending) == 1 and "seq 4" in report.pending[0]
    assert len(report.unrecorded) == 1 and "seq 5" in report.unrecorded[0]


def test_a_second_row_for_the_same_step_has_no_step() -> None:
    report = reconcile([step(1)], [row(1), row(1, row_id=555)])
    assert [(d.problem, d.row_id) for d in report.discrepancies] == [("row_without_step", 555)]


def test_a_step_the_activity_did_not_log_gives_its_seq_to_the_next_row() -> None:
    # A contact the debtor's gate deferred writes nothing; the deferral row takes the same seq.
    deferred = step(2, kind="contact", state="not_logged")
    report = reconcile([step(1), deferred, step(2, kind="wait")], [row(1), row(2)])
    assert report.passed and report.matched == 2
    assert len(report.unrecorded) == 1 and "seq 2 (contact" in report.unrecorded[0]
