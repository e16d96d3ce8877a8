from __future__ import annotations

import csv
import hashlib
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.co import nit

from cobranza.domain import Channel, DocumentType
from cobranza.money import format_cop
from cobranza.portfolio import (
    PortfolioFileError,
    PortfolioRow,
    RowError,
    file_sha256,
    format_errors,
    iter_portfolio,
    read_portfolio,
)

DATA = Path(__file__).resolve().parent.parent / "data"

HEADER = (
    "account_id,document_type,document_number,full_name,product,balance_cop,days_past_due,"
    "phone,email,address,city,authorized_channels"
)


def write(tmp_path: Path, text: str, name: str = "cartera.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def errors_by_line(errors: list[RowError]) -> dict[int, set[str | None]]:
    out: dict[int, set[str | None]] = {}
    for error in errors:
        out.setdefault(error.line, set()).add(error.field)
    return out


SPANISH_GOOD = (
    "Número Cuenta,Tipo Documento,Cédula,Nombre Completo,Producto,Saldo,Días Mora,"
    "Celular,Correo,Dirección,Ciudad,Canales Autorizados\n"
    "A-001,CC,1.020.304.050,  José   Muñoz  Peña ,Tarjeta_Credito,$ 1.234.567,5,"
    "300 123 4567,JOSE.MUNOZ@Example.COM,Calle 45 # 12-34,Bogotá,sms|email|whatsapp|call\n"
    "A-002,nit,900373115-3,Ñandú Ibáñez S.A.S.,vehiculo,45.000.000,0,+57 310 555 1234,,,"
    "Medellín,call|letter\n"
    "A-003,CE,ab12345,Ángela Zúñiga,libre_inversion,150000,100,,,,,\n"
)


def test_good_file_with_spanish_headers_and_accents(tmp_path: Path) -> None:
    result = read_portfolio(write(tmp_path, SPANISH_GOOD))
    assert result.errors == []
    assert result.ok
    first, second, third = result.rows
    assert first == PortfolioRow(
        line=2,
        account_id="A-001",
        document_type=DocumentType.CC,
        document_number="1020304050",
        full_name="José Muñoz Peña",
        product="tarjeta_credito",
        balance_cop=1_234_567,
        days_past_due=5,
        phone="+573001234567",
        email="jose.munoz@example.com",
        address="Calle 45 # 12-34",
        city="Bogotá",
        authorized_channels=frozenset({Channel.SMS, Channel.EMAIL, Channel.WHATSAPP, Channel.CALL}),
    )
    assert second.document_type is DocumentType.NIT
    assert second.document_number == "9003731153"
    assert second.full_name == "Ñandú Ibáñez S.A.S."
    assert second.email is None and second.address is None
    assert second.authorized_channels == frozenset({Channel.CALL, Channel.LETTER})
    assert (third.line, third.document_number, third.days_past_due) == (4, "AB12345", 100)
    assert third.phone is None and third.city is None
    assert third.authorized_channels == frozenset()


def test_semicolon_delimiter_bom_and_crlf(tmp_path: Path) -> None:
    text = "\ufeff" + SPANISH_GOOD.replace(",", ";").replace("\n", "\r\n")
    result = read_portfolio(write(tmp_path, text))
    assert result.errors == []
    assert [row.account_id for row in result.rows] == ["A-001", "A-002", "A-003"]
    assert result.rows[0].full_name == "José Muñoz Peña"


def test_bom_with_comma_and_canonical_headers(tmp_path: Path) -> None:
    text = "\ufeff" + HEADER + "\nX1,CC,79123456,Ana Gómez,microcredito,1.000,3,,,,,sms\n"
    (row,) = read_portfolio(write(tmp_path, text)).rows
    assert (row.account_id, row.balance_cop, row.authorized_channels) == (
        "X1",
        1000,
        frozenset({Channel.SMS}),
    )


def test_semicolon_file_with_comma_decimals_in_balance(tmp_path: Path) -> None:
    # In ";" files Excel writes decimals with ",": the value must not split the row.
    text = (
        "cuenta;tipo_documento;documento;nombre;producto;saldo_cop;dias_mora\n"
        "B1;CC;79123456;Ana Gómez;hipotecario;1.234.567,00;3\n"
    )
    (row,) = read_portfolio(write(tmp_path, text)).rows
    assert row.balance_cop == 1_234_567


def test_bad_portfolio_fixture_reports_each_line_and_field() -> None:
    result = read_portfolio(DATA / "bad_portfolio.csv")
    assert errors_by_line(result.errors) == {
        4: {"balance_cop"},
        6: {"document_number"},
        8: {"account_id"},
    }
    assert len(result.errors) == 3
    assert len(result.rows) == 5
    report = format_errors(result.errors).splitlines()
    assert report == [
        "línea 4, saldo_cop: el saldo debe ser mayor que cero ('-5000')",
        "línea 6, numero_documento: el número de documento es obligatorio",
        "línea 8, cuenta: cuenta duplicada: ya aparece en la línea 2 ('BAD-0001')",
    ]


def test_bad_rows_nit_check_digit_phone_and_more(tmp_path: Path) -> None:
    text = (
        HEADER + "\n"
        "C1,CC,79123456,Ana Gómez,tarjeta_credito,1000,1,3001234567,,,,\n"  # 2 ok
        "C2,NIT,900373115-4,Acme S.A.S.,vehiculo,2000,1,,,,,\n"  # 3 bad check digit
        "C3,CC,79123457,Luis Pérez,libranza,3000,1,12345,,,,\n"  # 4 bad phone
        "C4,CC,,Rosa Díaz,libranza,-5000,-2,,rosa@,,,visit|fax\n"  # 5 many at once
        "C1,XX,123,,,abc,x,,,,,\n"  # 6 duplicate and every required field bad
        "C 7,TI,123,Niño,p,1,0,,,,,\n"  # 7 bad account id and TI length
        "79123458,CC,79123458,Same Id,p,1,0,,,,,\n"  # 8 account id is the document number
        "C9,PP,AB-12,Ana,p,1,0,,,,,\n"  # 9 passport with a hyphen
        "C10,CC,79123459,Ana,p,1,0,,,,\n"  # 10 one column short
    )
    result = read_portfolio(write(tmp_path, text))
    assert [row.line for row in result.rows] == [2]
    assert errors_by_line(result.errors) == {
        3: {"document_number"},
        4: {"phone"},
        5: {"document_number", "balance_cop", "days_past_due", "email", "authorized_channels"},
        6: {
            "account_id",
            "document_type",
            "full_name",
            "product",
            "balance_cop",
            "days_past_due",
        },
        7: {"account_id", "document_number"},
        8: {"account_id"},
        9: {"document_number"},
        10: {None},
    }
    by_key = {(e.line, e.field): e for e in result.errors}
    assert "dígito de verificación" in by_key[3, "document_number"].message
    assert by_key[3, "document_number"].value == "900373115-4"
    assert by_key[4, "phone"].value == "12345"
    assert "línea 2" in by_key[6, "account_id"].message
    assert "Temporal" in by_key[8, "account_id"].message
    channel_errors = [e for e in result.errors if e.line == 5 and e.field == "authorized_channels"]
    assert {e.value for e in channel_errors} == {"visit", "fax"}
    # Errors of a row come in column order, so the report reads like the file.
    line6 = [e.field for e in result.errors if e.line == 6]
    columns = HEADER.split(",")
    assert line6 == sorted(line6, key=lambda field: columns.index(field or ""))


def test_nit_forms_are_stored_compact(tmp_path: Path) -> None:
    text = (
        HEADER
        + "\n"
        + "".join(
            f"N{i},NIT,{value},Empresa {i},capital,1000,0,,,,,\n"
            for i, value in enumerate(
                ["900373115-3", "9003731153", "900.373.115-3", "900 373 115 3"]
            )
        )
    )
    result = read_portfolio(write(tmp_path, text))
    assert result.errors == []
    assert {row.document_number for row in result.rows} == {"9003731153"}


def test_missing_required_column_names_it(tmp_path: Path) -> None:
    text = "cuenta,tipo_documento,documento,nombre,producto,dias_mora\nA,CC,123,Ana,p,1\n"
    with pytest.raises(PortfolioFileError) as info:
        list(iter_portfolio(write(tmp_path, text)))
    assert "balance_cop" in str(info.value) and "saldo_cop" in str(info.value)
    assert info.value.columns == ("balance_cop",)
    assert info.value.line == 1


def test_missing_several_columns(tmp_path: Path) -> None:
    with pytest.raises(PortfolioFileError, match="las columnas obligatorias") as info:
        read_portfolio(write(tmp_path, "cuenta;nombre\nA;Ana\n"))
    assert info.value.columns == (
        "document_type",
        "document_number",
        "product",
        "balance_cop",
        "days_past_due",
    )


def test_two_headers_for_one_field(tmp_path: Path) -> None:
    text = HEADER + ",celular\n"
    with pytest.raises(PortfolioFileError, match="mismo campo"):
        read_portfolio(write(tmp_path, text))


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n  \n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "vacio.csv"
    path.write_bytes(content)
    with pytest.raises(PortfolioFileError, match="vacío"):
        read_portfolio(path)


def test_blank_first_line_is_not_a_header(tmp_path: Path) -> None:
    with pytest.raises(PortfolioFileError, match="línea 1"):
        read_portfolio(write(tmp_path, "\n" + HEADER + "\n"))


def test_header_only_yields_nothing(tmp_path: Path) -> None:
    assert read_portfolio(write(tmp_path, HEADER + "\n")).rows == []


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    text = HEADER + "\nA1,CC,79123456,Ana,p,1,0,,,,,\nA2,CC,79123457,Peña,p,1,0,,,,,\n"
    path = write(tmp_path, text, encoding="cp1252")  # a typical Excel "CSV" export
    with pytest.raises(PortfolioFileError, match="UTF-8") as info:
        read_portfolio(path)
    assert info.value.line == 3
    assert "línea 3" in str(info.value)


def test_iter_portfolio_streams(tmp_path: Path) -> None:
    # The first row is available before the bad byte at the end of the file is read.
    good = HEADER + "\nA1,CC,79123456,Ana,p,1,0,,,,,\n"
    path = tmp_path / "stream.csv"
    path.write_bytes(good.encode() + b"A2,CC,79123457,Pe\xf1a,p,1,0,,,,,\n")
    items = iter_portfolio(path)
    first = next(items)
    assert isinstance(first, PortfolioRow) and first.account_id == "A1"
    with pytest.raises(PortfolioFileError):
        next(items)


def test_physical_line_numbers_with_blank_lines_and_multiline_fields(tmp_path: Path) -> None:
    text = (
        HEADER + "\n"
        "\n"  # line 2 blank
        'M1,CC,79123456,"Ana\nMaría",p,1,0,,,"Calle 1\nApto 2",,\n'  # lines 3-5
        ",,,,,,,,,,,\n"  # line 6: spreadsheet filler row
        "M2,CC,79123457,Luis,p,-1,0,,,,,\n"  # line 7
    )
    result = read_portfolio(write(tmp_path, text))
    (row,) = result.rows
    assert (row.line, row.full_name, row.address) == (3, "Ana María", "Calle 1 Apto 2")
    assert [(e.line, e.field) for e in result.errors] == [(7, "balance_cop")]


def test_unknown_columns_are_ignored_and_order_is_free(tmp_path: Path) -> None:
    text = (
        "saldo;observaciones;dias_mora;producto;nombre;cedula;tipo_documento;id_cuenta\n"
        "2.500.000;cliente VIP;12;Libranza;Inés Ruiz;52987654;C.C.;Z9\n"
    )
    (row,) = read_portfolio(write(tmp_path, text)).rows
    assert (row.account_id, row.document_type, row.balance_cop, row.product) == (
        "Z9",
        DocumentType.CC,
        2_500_000,
        "libranza",
    )


def test_error_value_is_truncated_to_40(tmp_path: Path) -> None:
    long_id = "x" * 30 + " " + "y" * 60
    text = HEADER + f"\n{long_id},CC,79123456,Ana,p,1,0,,,,,\n"
    (error,) = read_portfolio(write(tmp_path, text)).errors
    assert error.field == "account_id"
    assert error.value is not None and len(error.value) == 40 and error.value.endswith("…")


def test_account_id_length_limit(tmp_path: Path) -> None:
    text = (
        HEADER
        + "\n"
        + "a" * 64
        + ",CC,79123456,Ana,p,1,0,,,,,\n"
        + "b" * 65
        + ",CC,1,A,p,1,0,,,,,\n"
    )
    result = read_portfolio(write(tmp_path, text))
    assert [row.line for row in result.rows] == [2]
    assert {(e.line, e.field) for e in result.errors} == {(3, "account_id"), (3, "document_number")}


def test_format_errors_without_field_or_value() -> None:
    errors = [
        RowError(
            line=7, field="balance_cop", value="-5000", message="el saldo debe ser mayor que cero"
        ),
        RowError(
            line=8, field=None, value=None, message="la fila tiene 3 columnas y el encabezado 7"
        ),
        RowError(line=9, field="full_name", value=None, message="el nombre es obligatorio"),
    ]
    assert format_errors(errors) == (
        "línea 7, saldo_cop: el saldo debe ser mayor que cero ('-5000')\n"
        "línea 8: la fila tiene 3 columnas y el encabezado 7\n"
        "línea 9, nombre: el nombre es obligatorio"
    )
    assert format_errors([]) == ""


def test_models_are_frozen() -> None:
    error = RowError(line=1, field=None, value=None, message="x")
    with pytest.raises(ValueError):
        error.line = 2  # type: ignore[misc]


def test_file_sha256(tmp_path: Path) -> None:
    path = write(tmp_path, SPANISH_GOOD)
    assert file_sha256(path) == hashlib.sha256(SPANISH_GOOD.encode()).hexdigest()


# --- property: any valid generated row survives writing and reading -------------------------

NAME_CHARS = "abcdefghijklmnopqrstuvwxyzáéíóúñüÁÉÍÓÚÑABCDEFGHIJKLMNOPQRSTUVWXYZ'.-"
MOBILE_PREFIXES = ("300", "301", "310", "311", "312", "313", "315", "316", "318", "320", "350")


@st.composite
def documents(draw: st.DrawFn) -> tuple[DocumentType, str, str]:
    """(type, text written in the file, expected stored compact form)."""
    kind = draw(st.sampled_from([DocumentType.CC, DocumentType.CE, DocumentType.NIT]))
    if kind is DocumentType.CC:
        number = str(draw(st.integers(min_value=100, max_value=9_999_999_999)))
        return kind, number, number
    if kind is DocumentType.CE:
        number = draw(st.from_regex(r"[A-Z0-9]{3,15}", fullmatch=True))
        return kind, number, number
    base = str(draw(st.integers(min_value=80_000_000, max_value=999_999_999)))
    check = nit.calc_check_digit(base)
    written = draw(st.sampled_from([f"{base}-{check}", f"{base}{check}"]))
    return kind, written, base + check


@st.composite
def rows(draw: st.DrawFn, index: int) -> tuple[list[str], dict[str, object]]:
    kind, written_doc, stored_doc = draw(documents())
    words = draw(
        st.lists(st.text(alphabet=NAME_CHARS, min_size=1, max_size=12), min_size=1, max_size=4)
    )
    spacing = draw(st.sampled_from([" ", "  ", " \t "]))
    balance = draw(st.integers(min_value=1, max_value=10**12))
    balance_text = draw(
        st.sampled_from([str(balance), format_cop(balance), format_cop(balance)[2:] + ",00"])
    )
    days = draw(st.integers(min_value=0, max_value=5000))
    phone_local = draw(st.sampled_from(MOBILE_PREFIXES)) + str(
        draw(st.integers(min_value=2_000_000, max_value=9_999_999))
    )
    phone = draw(st.sampled_from(["", phone_local, "+57" + phone_local]))
    email = draw(st.sampled_from(["", f"Persona{index}@Example.COM"]))
    channels = draw(st.frozensets(st.sampled_from([c for c in Channel if c is not Channel.VISIT])))
    account_id = f"acc_{index}-" + draw(st.from_regex(r"[A-Za-z0-9_-]{0,20}", fullmatch=True))
    cells = [
        account_id,
        kind.value,
        written_doc,
        spacing + spacing.join(words) + spacing,
        draw(st.sampled_from(["Tarjeta_Credito", "vehiculo", "Libre Inversion"])),
        balance_text,
        str(days),
        phone,
        email,
        "",
        draw(st.sampled_from(["", "Bogotá", "Cúcuta"])),
        "|".join(sorted(channels)),
    ]
    expected: dict[str, object] = {
        "account_id": account_id,
        "document_type": kind,
        "document_number": stored_doc,
        "full_name": " ".join(words),
        "product": " ".join(cells[4].split()).lower(),
        "balance_cop": balance,
        "days_past_due": days,
        "phone": "+57" + phone_local if phone else None,
        "email": email.lower() or None,
        "address": None,
        "city": cells[10] or None,
        "authorized_channels": channels,
    }
    return cells, expected


@st.composite
def files(draw: st.DrawFn) -> tuple[str, list[tuple[list[str], dict[str, object]]]]:
    count = draw(st.integers(min_value=1, max_value=8))
    generated = [draw(rows(index)) for index in range(count)]
    return draw(st.sampled_from([",", ";"])), generated


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files())
def test_valid_generated_rows_round_trip(
    spec: tuple[str, list[tuple[list[str], dict[str, object]]]],
) -> None:
    delimiter, generated = spec
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(HEADER.split(","))
    for cells, _ in generated:
        writer.writerow(cells)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gen.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
        result = read_portfolio(path)
    assert result.errors == []
    assert len(result.rows) == len(generated)
    for line, (row, (_, expected)) in enumerate(zip(result.rows, generated, strict=True), 2):
        assert row.model_dump() == {"line": line, **expected}
