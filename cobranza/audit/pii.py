"""Search histories, search attributes and memos for debtors' personal data.

PII lives only in Postgres `debtors`; workflow ids, search attributes and memos are stored in plain
text by Temporal, and payloads are only as private as their codec. So for every debtor concerned we
look for the name, the document number, the phone (E.164 and national forms) and the email in every
string of the history JSON and inside every payload (decoded from base64). Findings name the debtor
by its opaque id and the field by kind, never by value, so the report itself carries no PII.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import phonenumbers
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from cobranza.audit.history import RunHistory

PiiField = Literal["name", "document", "phone", "email"]

FIELD_LABELS: dict[PiiField, str] = {
    "name": "nombre",
    "document": "número de documento",
    "phone": "teléfono",
    "email": "correo electrónico",
}


class DebtorPii(BaseModel):
    debtor_id: str
    account_ids: list[str]
    full_name: str
    document_type: str
    document_number: str
    phone: str | None = None
    email: str | None = None


class PiiFinding(BaseModel):
    debtor_id: str
    field: PiiField
    location: str

    def describe(self) -> str:
        return f"{FIELD_LABELS[self.field]} del deudor {self.debtor_id} en {self.location}"


async def fetch_debtors(pool: AsyncConnectionPool, account_ids: Sequence[str]) -> list[DebtorPii]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT d.debtor_id::text, array_agg(a.account_id ORDER BY a.account_id),
                      d.full_name, d.document_type, d.document_number, d.phone, d.email
               FROM debtors d JOIN accounts a USING (debtor_id)
               WHERE a.account_id = ANY(%s)
               GROUP BY d.debtor_id""",
            (list(account_ids),),
        )
        return [
            DebtorPii(
                debtor_id=row[0],
                account_ids=row[1],
                full_name=row[2],
                document_type=row[3],
                document_number=row[4],
                phone=row[5],
                email=row[6],
            )
            for row in await cur.fetchall()
        ]


_COMBINING = re.compile("[\u0300-\u036f]")


def _fold(text: str) -> str:
    """Lower case without accents, so 'NÚÑEZ' and 'nunez' match."""
    if text.isascii():
        return text.casefold()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text)).casefold()


_WORD = re.compile(r"[^\W_]+")
_DIGITS = re.compile(r"\d+")
# Digits written with separators: 8.339.070, 315 200 1196, (315) 200-1196, +57 315 2001196.
_SEPARATED = re.compile(r"\d(?:[\d.\-\s()]*\d)?")
# Dates, instants and UUIDs are everywhere in a history; joined up they look like document numbers.
_NOT_A_NUMBER = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)?"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_MIN_NUMBER = 6  # shorter digit strings are too common to mean a person


def _phone_forms(phone: str) -> set[str]:
    digits = {re.sub(r"\D", "", phone)}
    try:
        parsed = phonenumbers.parse(phone, "CO")
    except phonenumbers.NumberParseException:
        return digits
    digits.add(str(parsed.national_number))
    digits.add(f"{parsed.country_code}{parsed.national_number}")
    return digits


class PiiIndex:
    """Every searchable form of every debtor's data, for one pass over each text."""

    def __init__(self, debtors: Iterable[DebtorPii]) -> None:
        self.debtors = list(debtors)
        self._names: dict[tuple[str, ...], str] = {}
        self._numbers: dict[str, tuple[str, PiiField]] = {}
        self._words: dict[str, tuple[str, PiiField]] = {}
        self._emails: dict[str, str] = {}
        for debtor in self.debtors:
            tokens = tuple(_WORD.findall(_fold(debtor.full_name)))
            if len(tokens) >= 2:
                self._names[tokens] = debtor.debtor_id
            if len(tokens) >= 3:
                # The two surnames alone still identify a person.
                self._names[tokens[-2:]] = debtor.debtor_id
            document = _fold(debtor.document_number)
            compact = re.sub(r"[^0-9a-z]", "", document)
            if compact.isdigit():
                if len(compact) >= _MIN_NUMBER:
                    self._numbers[compact] = (debtor.debtor_id, "document")
            elif compact:
                self._words[compact] = (debtor.debtor_id, "document")
            if debtor.phone:
                for form in _phone_forms(debtor.phone):
                    if len(form) >= _MIN_NUMBER:
                        self._numbers[form] = (debtor.debtor_id, "phone")
            if debtor.email:
                self._emails[debtor.email.strip().casefold()] = debtor.debtor_id
        self._name_lengths = sorted({len(name) for name in self._names})

    def scan_text(self, text: str) -> set[tuple[str, PiiField]]:
        found: set[tuple[str, PiiField]] = set()
        if not text:
            return found
        folded = _fold(text)
        if self._names or self._words:
            words = _WORD.findall(folded)
            for word in words:
                hit = self._words.get(word)
                if hit is not None:
                    found.add(hit)
            for size in self._name_lengths:
                for start in range(len(words) - size + 1):
                    debtor = self._names.get(tuple(words[start : start + size]))
                    if debtor is not None:
                        found.add((debtor, "name"))
        if self._numbers:
            numeric = _NOT_A_NUMBER.sub(" | ", folded)
            candidates = set(_DIGITS.findall(numeric))
            candidates.update(re.sub(r"\D", "", m) for m in _SEPARATED.findall(numeric))
            for candidate in candidates:
                hit = self._numbers.get(candidate)
                if hit is not None:
                    found.add(hit)
        if self._emails and "@" in folded:
            for email in _EMAIL.findall(folded):
                debtor = self._emails.get(email)
                if debtor is not None:
                    found.add((debtor, "email"))
        return found


def _payload_text(data: str) -> Any:
    """A payload's data (base64 in history JSON) as JSON when it parses, else as text."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return data
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _strings(value: Any, where: str) -> list[tuple[str, str]]:
    """(text, location) of every string and key in a JSON value, inside base64 payloads too."""
    found: list[tuple[str, str]] = []

    def visit(node: Any, path: str) -> None:
        if isinstance(node, dict):
            is_payload = isinstance(node.get("data"), str) and set(node) <= {
                "metadata",
                "data",
                "externalPayloads",
            }
            for key, child in node.items():
                child_path = f"{path}.{key}" if path else str(key)
                found.append((str(key), child_path))
                if is_payload and isinstance(child, str):
                    visit(_payload_text(child), child_path)
                elif key == "metadata" and is_payload and isinstance(child, dict):
                    for meta_key, meta_value in child.items():
                        if isinstance(meta_value, str):
                            visit(_payload_text(meta_value), f"{child_path}.{meta_key}")
                else:
                    visit(child, child_path)
        elif isinstance(node, list):
            for position, child in enumerate(node):
                visit(child, f"{path}[{position}]")
        elif isinstance(node, str):
            found.append((node, path))

    visit(value, "")
    return [(text, f"{where}: {path}" if path else where) for text, path in found]


def _findings(strings: list[tuple[str, str]], index: PiiIndex) -> list[PiiFinding]:
    # One pass over everything first: a hit in one string is a hit in the whole ("|" joins no
    # word, number or email), and most histories have none, so the per-string pass is rare.
    if not strings or not index.scan_text(" | ".join(text for text, _ in strings)):
        return []
    findings: dict[tuple[str, PiiField, str], PiiFinding] = {}
    for text, location in strings:
        for debtor_id, field in index.scan_text(text):
            findings.setdefault(
                (debtor_id, field, location),
                PiiFinding(debtor_id=debtor_id, field=field, location=location),
            )
    return list(findings.values())


def scan_json(value: Any, index: PiiIndex, where: str) -> list[PiiFinding]:
    """Every string (and key) in a JSON value, descending into base64 payloads."""
    return _findings(_strings(value, where), index)


def scan_run(run: RunHistory, index: PiiIndex) -> list[PiiFinding]:
    """A run's history events, its workflow id, and visibility's search attributes and memo."""
    strings = _strings(run.workflow_id, f"workflow id de la run {run.run_id}")
    for event in run.history.to_json_dict().get("events", []):
        where = f"run {run.run_id}, evento {event.get('eventId')} ({event.get('eventType')})"
        strings += _strings(event, where)
    strings += _strings(run.search_attributes, f"atributos de búsqueda de la run {run.run_id}")
    strings += _strings(run.memo, f"memo de la run {run.run_id}")
    return _findings(strings, index)


def scan_runs(runs: Iterable[RunHistory], index: PiiIndex) -> list[PiiFinding]:
    return [finding for run in runs for finding in scan_run(run, index)]
