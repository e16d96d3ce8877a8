"""The per-account hash chain over `collection_log` rows.

Each row's hash is SHA-256 over the previous row's hash and a canonical JSON of the row's content,
so an edit, a deletion or an inserted row anywhere breaks every later link. Auditors can recompute it
from the table alone (README: "Verifying the log").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

GENESIS = "0" * 64

HASHED_FIELDS = (
    "account_id",
    "workflow_id",
    "run_id",
    "seq",
    "kind",
    "stage",
    "detail",
    "occurred_at",
    "recorded_at",
)


def _instant(value: datetime) -> str:
    # Fixed UTC microsecond form: Postgres round-trips timestamptz at microsecond precision.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: Mapping[str, Any]) -> bytes:
    content = {name: row[name] for name in HASHED_FIELDS}
    content["occurred_at"] = _instant(content["occurred_at"])
    content["recorded_at"] = _instant(content["recorded_at"])
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(row)).hexdigest()


class ChainBreak(BaseModel):
    row_id: int
    seq: int
    problem: str


def verify_chain(rows: Iterable[Mapping[str, Any]]) -> list[ChainBreak]:
    """Check rows of one account in insertion order; returns every break found."""
    breaks: list[ChainBreak] = []
    expected_prev = GENESIS
    for row in rows:
        if row["prev_hash"] != expected_prev:
            breaks.append(
                ChainBreak(
                    row_id=row["id"],
                    seq=row["seq"],
                    problem="prev_hash does not match the previous row (row missing or inserted)",
                )
            )
        if row_hash(row["prev_hash"], row) != row["hash"]:
            breaks.append(
                ChainBreak(row_id=row["id"], seq=row["seq"], problem="content does not match hash")
            )
        expected_prev = row["hash"]
    return breaks
