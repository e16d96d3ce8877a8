"""The PII scanner finds a debtor's data however it is written, and not in ordinary history text."""

from __future__ import annotations

import base64
import json

from cobranza.audit.pii import DebtorPii, PiiIndex, scan_json

ANA = DebtorPii(
    debtor_id="d-ana",
    account_ids=["ACC-1"],
    full_name="Ana María Pérez Núñez",
    document_type="CC",
    document_number="52123456",
    phone="+573001234567",
    email="ana.perez@example.co",
)
INDEX = PiiIndex([ANA])


def found(text: str) -> set[str]:
    return {field for _, field in INDEX.scan_text(text)}


def test_finds_each_field_in_the_forms_people_write_it() -> None:
    assert found("Señora ANA MARIA PEREZ NUNEZ, saldo") == {"name"}
    assert found("apellidos: Pérez Núñez") == {"name"}
    assert found("CC 52.123.456") == {"document"}
    assert found("doc=52123456;") == {"document"}
    for phone in (
        "+573001234567",
        "3001234567",
        "300 123 4567",
        "(300) 123-4567",
        "+57 300 1234567",
    ):
        assert found(f"tel {phone}") == {"phone"}, phone
    assert found("<ANA.PEREZ@EXAMPLE.CO>") == {"email"}


def test_ordinary_history_text_is_not_mistaken_for_pii() -> None:
    for text in (
        "2026-12-04T15:35:59.464870+00:00",
        "01a241b2-ac5a-7cca-b1ce-92cbad3b81bd",
        "balance_cop=52123457 amount_cop=3001234568",
        "sim-9f3a2b7c01d4e5f6a7b8 balance 152123456",
        "cada semana, Ana o María llaman",  # one name alone is not a person
        "ana.perez@example.com",
    ):
        assert found(text) == set(), text


def test_scan_json_looks_inside_base64_payloads_and_names_the_path() -> None:
    data = base64.b64encode(json.dumps({"product": "tarjeta 3001234567"}).encode()).decode()
    event = {
        "eventId": "1",
        "input": {"payloads": [{"metadata": {"encoding": "anNvbg=="}, "data": data}]},
    }
    findings = scan_json(event, INDEX, "run R, evento 1")
    assert [(f.debtor_id, f.field) for f in findings] == [("d-ana", "phone")]
    assert findings[0].location == "run R, evento 1: input.payloads[0].data.product"
    # The report names the field, never the value.
    assert "3001234567" not in findings[0].describe()
