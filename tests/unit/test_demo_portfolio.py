from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType

from cobranza.domain import Channel, DocumentType
from cobranza.portfolio import DEMO_PORTFOLIO, read_portfolio

ROOT = Path(__file__).resolve().parents[2]
ALL_FOUR = frozenset({Channel.SMS, Channel.EMAIL, Channel.WHATSAPP, Channel.CALL})


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_demo_portfolio", ROOT / "scripts" / "make_demo_portfolio.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_portfolio_is_240_valid_rows() -> None:
    result = read_portfolio(DEMO_PORTFOLIO)
    assert result.errors == []
    assert len(result.rows) == 240
    assert len({row.account_id for row in result.rows}) == 240
    assert len({row.document_number for row in result.rows}) == 240


def test_demo_portfolio_shape() -> None:
    rows = read_portfolio(DEMO_PORTFOLIO).rows
    kinds = Counter(row.document_type for row in rows)
    assert set(kinds) == {DocumentType.CC, DocumentType.CE, DocumentType.NIT}
    assert kinds[DocumentType.CC] > 0.75 * len(rows)
    assert all(150_000 <= row.balance_cop <= 45_000_000 for row in rows)
    assert all(0 <= row.days_past_due <= 100 for row in rows)
    assert sum(row.days_past_due <= 30 for row in rows) > len(rows) / 2
    assert all(row.phone is not None and row.phone.startswith("+573") for row in rows)
    assert sum(row.authorized_channels == ALL_FOUR for row in rows) > len(rows) / 2
    assert any(any(ch in row.full_name for ch in "áéíóúñÑ") for row in rows)
    # Contact data stays on reserved example domains, so no real mailbox can be reached.
    domains = {row.email.rpartition("@")[2].split(".")[-2:][0] for row in rows if row.email}
    assert domains == {"example"}
    raw = DEMO_PORTFOLIO.read_text(encoding="utf-8")
    assert raw.startswith("account_id,document_type,document_number,full_name,")
    balance_cells = [line.split(",")[5] for line in raw.splitlines()[1:]]
    assert any("." in cell for cell in balance_cells)
    assert any(cell.isdigit() for cell in balance_cells)


def test_demo_portfolio_is_reproducible() -> None:
    generator = load_generator()
    assert generator.render() == DEMO_PORTFOLIO.read_text(encoding="utf-8"), (
        "regenerate with: python scripts/make_demo_portfolio.py"
    )
