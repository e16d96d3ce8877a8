"""Streaming reader and validator for portfolio ("cartera") CSV files from core banking.

The file is UTF-8 (a BOM is accepted), has a header row and uses ``,`` or ``;`` as delimiter
(Excel in es-CO writes ``;``). Headers may be the canonical English names or common Spanish
aliases, case- and accent-insensitive; unknown columns are ignored, since core exports carry many.

Each data row yields either a clean ``PortfolioRow`` or one ``RowError`` per invalid field, so an
ops user fixes the whole file in one pass. Problems that make the file unreadable (not UTF-8, no
header, a required column missing) raise ``PortfolioFileError``. Line numbers are physical file
lines, header = line 1, so they match what the user sees in an editor.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field
from stdnum.co import nit
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError

from cobranza.domain import Channel, DocumentType
from cobranza.money import CopParseError, parse_cop

__all__ = [
    "DEMO_PORTFOLIO",
    "FIELD_LABELS",
    "OPTIONAL_FIELDS",
    "REQUIRED_FIELDS",
    "PortfolioFileError",
    "PortfolioResult",
    "PortfolioRow",
    "RowError",
    "file_sha256",
    "format_errors",
    "iter_portfolio",
    "read_portfolio",
]

DEMO_PORTFOLIO = Path(__file__).parent / "data" / "demo_portfolio.csv"

REQUIRED_FIELDS: tuple[str, ...] = (
    "account_id",
    "document_type",
    "document_number",
    "full_name",
    "product",
    "balance_cop",
    "days_past_due",
)
OPTIONAL_FIELDS: tuple[str, ...] = ("phone", "email", "address", "city", "authorized_channels")
_FIELD_ORDER = {field: index for index, field in enumerate(REQUIRED_FIELDS + OPTIONAL_FIELDS)}

# Spanish names shown to ops users in error reports (the main Spanish header alias).
FIELD_LABELS: dict[str, str] = {
    "account_id": "cuenta",
    "document_type": "tipo_documento",
    "document_number": "numero_documento",
    "full_name": "nombre",
    "product": "producto",
    "balance_cop": "saldo_cop",
    "days_past_due": "dias_mora",
    "phone": "telefono",
    "email": "correo",
    "address": "direccion",
    "city": "ciudad",
    "authorized_channels": "canales_autorizados",
}

# Normalized header (lower case, no accents, "_" for separators) -> canonical field.
_ALIASES: dict[str, tuple[str, ...]] = {
    "account_id": ("cuenta", "numero_cuenta", "id_cuenta", "no_cuenta", "nro_cuenta"),
    "document_type": ("tipo_documento", "tipo_doc", "tipo_identificacion"),
    "document_number": (
        "numero_documento",
        "documento",
        "cedula",
        "nro_documento",
        "no_documento",
        "numero_identificacion",
        "identificacion",
    ),
    "full_name": ("nombre", "nombre_completo", "nombres_apellidos", "razon_social"),
    "product": ("producto", "tipo_producto"),
    "balance_cop": ("saldo", "saldo_cop", "saldo_total"),
    "days_past_due": ("dias_mora", "dias_de_mora", "dias_en_mora"),
    "phone": ("telefono", "celular", "movil", "telefono_celular"),
    "email": ("correo", "correo_electronico", "e_mail"),
    "address": ("direccion",),
    "city": ("ciudad", "municipio"),
    "authorized_channels": ("canales_autorizados", "canales"),
}
_HEADER_TO_FIELD: dict[str, str] = {
    alias: field for field, aliases in _ALIASES.items() for alias in (field, *aliases)
}

# The account id becomes the Temporal workflow id "collection-<account_id>". Workflow ids are stored
# in plain text and bypass the payload codec, so only an internal, non-PII identifier is allowed:
# a restricted ASCII alphabet, and never the debtor's document number (checked per row).
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

_CHANNEL_ALIASES: dict[str, Channel] = {
    "sms": Channel.SMS,
    "email": Channel.EMAIL,
    "correo": Channel.EMAIL,
    "whatsapp": Channel.WHATSAPP,
    "call": Channel.CALL,
    "llamada": Channel.CALL,
    "letter": Channel.LETTER,
    "carta": Channel.LETTER,
}
_CHANNEL_CHOICES = "sms, email, whatsapp, call, letter"

# Non-NIT documents: (pattern on the compact form, Spanish message when it fails).
_DOCUMENT_RULES: dict[DocumentType, tuple[str, str]] = {
    DocumentType.CC: (
        r"[0-9]{3,10}",
        "la cédula de ciudadanía debe tener de 3 a 10 dígitos",
    ),
    DocumentType.CE: (
        r"[A-Z0-9]{3,15}",
        "la cédula de extranjería debe tener de 3 a 15 letras o dígitos",
    ),
    DocumentType.TI: (
        r"[0-9]{10,11}",
        "la tarjeta de identidad debe tener 10 u 11 dígitos",
    ),
    DocumentType.PP: (
        r"[A-Z0-9]{3,16}",
        "el pasaporte debe tener de 3 a 16 letras o dígitos",
    ),
}

# Longest value echoed in a RowError: enough to find it in the file, never a whole row.
VALUE_LIMIT = 40
# Bounds keep memory flat on a malformed file (e.g. one without newlines or an unclosed quote).
_MAX_LINE_BYTES = 1 << 20
_MAX_NAME = 200
_MAX_TEXT = 300
_MAX_PRODUCT = 64


class PortfolioRow(BaseModel):
    """One valid portfolio row, normalized (compact document numbers, E.164 phone, lower email)."""

    model_config = ConfigDict(frozen=True)

    line: int
    account_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    document_type: DocumentType
    document_number: str
    full_name: str
    product: str
    balance_cop: Annotated[int, Field(gt=0)]
    days_past_due: Annotated[int, Field(ge=0)]
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    city: str | None = None
    authorized_channels: frozenset[Channel] = frozenset()


class RowError(BaseModel):
    """A problem with one row (``field`` None when it concerns the whole row). Message in Spanish.

    ``value`` is the offending text clipped to 40 characters for the ops user's CLI report; it may
    contain PII, so do not send it to logs.
    """

    model_config = ConfigDict(frozen=True)

    line: int
    field: str | None
    value: str | None
    message: str


class PortfolioResult(BaseModel):
    rows: list[PortfolioRow]
    errors: list[RowError]

    @property
    def ok(self) -> bool:
        return not self.errors


class PortfolioFileError(ValueError):
    """The file as a whole cannot be read; the Spanish message names the line or column."""

    def __init__(
        self, message: str, *, line: int | None = None, columns: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.line = line
        self.columns = columns


def _clip(value: str) -> str:
    # One line per error in reports: no raw newlines or control characters from quoted fields.
    flat = "".join(ch if ch.isprintable() else " " for ch in value)
    return flat if len(flat) <= VALUE_LIMIT else flat[: VALUE_LIMIT - 1] + "…"


def _normalize_header(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.strip().lower())
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", "_", ascii_only).strip("_")


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _iter_lines(path: Path) -> Iterator[str]:
    """Decoded physical lines (newline kept, BOM dropped); a decoding failure names its line."""
    with path.open("rb") as handle:
        number = 0
        while True:
            raw = handle.readline(_MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > _MAX_LINE_BYTES:
                raise PortfolioFileError(
                    f"la línea {number} es demasiado larga (más de {_MAX_LINE_BYTES} bytes); "
                    "¿el archivo es realmente un CSV?",
                    line=number,
                )
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                raise PortfolioFileError(
                    f"el archivo no está codificado en UTF-8 (línea {number}); "
                    "expórtelo como «CSV UTF-8»",
                    line=number,
                ) from None


def _sniff_delimiter(header: str) -> str:
    return ";" if header.count(";") > header.count(",") else ","


def _map_header(cells: list[str]) -> dict[str, int]:
    """Canonical field -> column index; raises on a missing required or doubly mapped column."""
    positions: dict[str, int] = {}
    originals: dict[str, str] = {}
    for index, cell in enumerate(cells):
        field = _HEADER_TO_FIELD.get(_normalize_header(cell))
        if field is None:
            continue
        if field in positions:
            raise PortfolioFileError(
                f"las columnas '{originals[field]}' y '{cell.strip()}' corresponden al mismo "
                f"campo '{field}' (línea 1)",
                line=1,
                columns=(field,),
            )
        positions[field] = index
        originals[field] = cell.strip()
    missing = tuple(field for field in REQUIRED_FIELDS if field not in positions)
    if missing:
        described = ", ".join(f"'{field}' (o '{FIELD_LABELS[field]}')" for field in missing)
        noun = "la columna obligatoria" if len(missing) == 1 else "las columnas obligatorias"
        raise PortfolioFileError(
            f"falta {noun} {described} en el encabezado (línea 1)", line=1, columns=missing
        )
    return positions


class _RowValidator:
    """Validates one row's cells, collecting every error instead of stopping at the first."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.errors: list[RowError] = []

    def error(self, field: str, value: str | None, message: str) -> None:
        self.errors.append(
            RowError(
                line=self.line,
                field=field,
                value=None if value is None else _clip(value),
                message=message,
            )
        )

    def account_id(self, raw: str) -> str | None:
        value = raw.strip()
        if not value:
            self.error("account_id", None, "la cuenta es obligatoria")
            return None
        if not _ACCOUNT_ID.fullmatch(value):
            self.error(
                "account_id",
                value,
                "la cuenta solo admite letras sin tilde, dígitos, '_' y '-' (máximo 64)",
            )
            return None
        return value

    def document_type(self, raw: str) -> DocumentType | None:
        value = raw.strip().upper().replace(".", "").replace(" ", "")
        if not value:
            self.error("document_type", None, "el tipo de documento es obligatorio")
            return None
        try:
            return DocumentType(value)
        except ValueError:
            choices = ", ".join(item.value for item in DocumentType)
            self.error(
                "document_type", raw.strip(), f"tipo de documento desconocido; use {choices}"
            )
            return None

    def document_number(self, raw: str, kind: DocumentType | None) -> str | None:
        value = raw.strip()
        if not value:
            self.error("document_number", None, "el número de documento es obligatorio")
            return None
        if kind is None:
            return None  # the type error is already reported; the number cannot be judged
        if kind is DocumentType.NIT:
            return self._nit(value)
        compact = re.sub(r"[\s.]", "", value).upper()
        pattern, message = _DOCUMENT_RULES[kind]
        if not re.fullmatch(pattern, compact):
            self.error("document_number", value, message)
            return None
        return compact

    def _nit(self, value: str) -> str | None:
        try:
            return str(nit.validate(value))
        except InvalidChecksum:
            message = "el dígito de verificación del NIT no corresponde"
        except InvalidLength:
            message = "el NIT debe tener de 8 a 16 dígitos incluido el dígito de verificación"
        except ValidationError:
            message = (
                "el NIT solo admite dígitos, puntos y un guion antes del dígito de verificación"
            )
        self.error("document_number", value, message)
        return None

    def full_name(self, raw: str) -> str | None:
        value = _collapse(raw)
        if not value:
            self.error("full_name", None, "el nombre es obligatorio")
            return None
        if len(value) > _MAX_NAME:
            self.error("full_name", value, f"el nombre supera {_MAX_NAME} caracteres")
            return None
        return value

    def product(self, raw: str) -> str | None:
        value = _collapse(raw).lower()
        if not value:
            self.error("product", None, "el producto es obligatorio")
            return None
        if len(value) > _MAX_PRODUCT:
            self.error("product", value, f"el producto supera {_MAX_PRODUCT} caracteres")
            return None
        return value

    def balance(self, raw: str) -> int | None:
        value = raw.strip()
        if not value:
            self.error("balance_cop", None, "el saldo es obligatorio")
            return None
        try:
            amount = parse_cop(value, allow_negative=True)
        except CopParseError as exc:
            self.error("balance_cop", value, f"monto inválido: {exc.reason}")
            return None
        if amount <= 0:
            self.error("balance_cop", value, "el saldo debe ser mayor que cero")
            return None
        return amount

    def days_past_due(self, raw: str) -> int | None:
        value = raw.strip()
        if not value:
            self.error("days_past_due", None, "los días de mora son obligatorios")
            return None
        if re.fullmatch(r"-[0-9]+", value):
            self.error("days_past_due", value, "los días de mora no pueden ser negativos")
            return None
        if not re.fullmatch(r"\+?[0-9]{1,6}", value):
            self.error("days_past_due", value, "los días de mora deben ser un número entero")
            return None
        return int(value)

    def phone(self, raw: str) -> str | None:
        value = raw.strip()
        if not value:
            return None
        try:
            parsed = phonenumbers.parse(value, "CO")
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_valid_number(parsed):
            self.error("phone", value, "el teléfono no es un número válido (p. ej. 3001234567)")
            return None
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)

    def email(self, raw: str) -> str | None:
        value = raw.strip().lower()
        if not value:
            return None
        local, _, domain = value.partition("@")
        labels = domain.split(".")
        if (
            value.count("@") != 1
            or not local
            or len(labels) < 2
            or not all(labels)
            or any(ch.isspace() for ch in value)
            or len(value) > 254
        ):
            self.error("email", raw.strip(), "el correo electrónico no es válido")
            return None
        return value

    def optional_text(self, field: str, raw: str) -> str | None:
        value = _collapse(raw)
        if not value:
            return None
        if len(value) > _MAX_TEXT:
            self.error(field, value, f"el texto supera {_MAX_TEXT} caracteres")
            return None
        return value

    def channels(self, raw: str) -> frozenset[Channel]:
        found: set[Channel] = set()
        for part in raw.split("|"):
            name = part.strip().lower()
            if not name:
                continue
            channel = _CHANNEL_ALIASES.get(name)
            if channel is not None:
                found.add(channel)
            elif name in {Channel.VISIT.value, "visita"}:
                self.error(
                    "authorized_channels",
                    part.strip(),
                    "la visita no se autoriza desde la cartera; "
                    f"canales permitidos: {_CHANNEL_CHOICES}",
                )
            else:
                self.error(
                    "authorized_channels",
                    part.strip(),
                    f"canal desconocido; canales permitidos: {_CHANNEL_CHOICES}",
                )
        return frozenset(found)


def _validate_row(
    line: int, cells: list[str], columns: dict[str, int], seen: dict[str, int]
) -> PortfolioRow | list[RowError]:
    def cell(field: str) -> str:
        index = columns.get(field)
        return "" if index is None else cells[index]

    check = _RowValidator(line)
    account_id = check.account_id(cell("account_id"))
    document_type = check.document_type(cell("document_type"))
    document_number = check.document_number(cell("document_number"), document_type)
    full_name = check.full_name(cell("full_name"))
    product = check.product(cell("product"))
    balance = check.balance(cell("balance_cop"))
    days = check.days_past_due(cell("days_past_due"))
    phone = check.phone(cell("phone"))
    email = check.email(cell("email"))
    address = check.optional_text("address", cell("address"))
    city = check.optional_text("city", cell("city"))
    channels = check.channels(cell("authorized_channels"))

    if account_id is not None:
        if document_number is not None and account_id.upper() == document_number.upper():
            check.error(
                "account_id",
                account_id,
                "la cuenta no puede ser el número de documento: queda visible en Temporal",
            )
        first = seen.get(account_id)
        if first is not None:
            check.error(
                "account_id", account_id, f"cuenta duplicada: ya aparece en la línea {first}"
            )
        else:
            seen[account_id] = line

    if check.errors:
        return sorted(check.errors, key=lambda error: _FIELD_ORDER.get(error.field or "", 0))
    # Every value is validated above; the asserts only narrow the types.
    assert account_id is not None and document_type is not None and document_number is not None
    assert full_name is not None and product is not None
    assert balance is not None and days is not None
    return PortfolioRow(
        line=line,
        account_id=account_id,
        document_type=document_type,
        document_number=document_number,
        full_name=full_name,
        product=product,
        balance_cop=balance,
        days_past_due=days,
        phone=phone,
        email=email,
        address=address,
        city=city,
        authorized_channels=channels,
    )


def iter_portfolio(path: Path) -> Iterator[PortfolioRow | RowError]:
    """Yield each data row as a ``PortfolioRow`` or its ``RowError``s, in file order.

    Streams: memory stays flat except for the account ids seen (to report duplicates). A
    ``PortfolioFileError`` may be raised after rows were yielded (e.g. a non UTF-8 byte on line
    5,000); callers that persist rows while iterating must treat it as failing the whole file.
    """
    lines = _iter_lines(Path(path))
    header = next(lines, None)
    if header is None or not header.strip():
        # Only blank lines is an empty file; content after a blank line 1 is a misplaced header.
        if header is not None and any(rest.strip() for rest in lines):
            raise PortfolioFileError(
                "la línea 1 debe ser el encabezado; el archivo empieza con una línea en blanco",
                line=1,
            )
        raise PortfolioFileError("el archivo está vacío: no tiene encabezado ni filas")

    delimiter = _sniff_delimiter(header)
    reader = csv.reader(_chain(header, lines), delimiter=delimiter)
    try:
        header_cells = next(reader)
    except csv.Error as exc:
        raise PortfolioFileError(f"encabezado ilegible (línea 1): {exc}", line=1) from None
    columns = _map_header(header_cells)
    width = len(header_cells)

    seen: dict[str, int] = {}
    while True:
        line = reader.line_num + 1  # a quoted field may span lines: report where the row starts
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise PortfolioFileError(
                f"CSV mal formado desde la línea {line} (¿comillas sin cerrar?): {exc}", line=line
            ) from None
        if not any(value.strip() for value in cells):
            continue  # blank lines and ";;;;" filler rows from spreadsheets
        if len(cells) != width:
            yield RowError(
                line=line,
                field=None,
                value=None,
                message=f"la fila tiene {len(cells)} columnas y el encabezado {width}",
            )
            continue
        result = _validate_row(line, cells, columns, seen)
        if isinstance(result, PortfolioRow):
            yield result
        else:
            yield from result


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def read_portfolio(path: Path) -> PortfolioResult:
    """Read a whole (small) file into memory; ``iter_portfolio`` for large ones."""
    rows: list[PortfolioRow] = []
    errors: list[RowError] = []
    for item in iter_portfolio(path):
        if isinstance(item, PortfolioRow):
            rows.append(item)
        else:
            errors.append(item)
    return PortfolioResult(rows=rows, errors=errors)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file's bytes, to record exactly which file a campaign loaded."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def format_errors(errors: Iterable[RowError]) -> str:
    """One Spanish line per error: ``línea 7, saldo_cop: el saldo debe ser mayor que cero ('-5')``

    Values may be PII: this text is for the ops user's report, not for logs.
    """
    out: list[str] = []
    for error in errors:
        where = f"línea {error.line}"
        if error.field is not None:
            where += f", {FIELD_LABELS.get(error.field, error.field)}"
        text = f"{where}: {error.message}"
        if error.value is not None:
            text += f" ('{error.value}')"
        out.append(text)
    return "\n".join(out)
