"""Colombian peso (COP) amounts: parsing what people and core systems write, and display.

Amounts are whole pesos held as ``int``; floats never appear, so no rounding can creep in.
Colombian writing uses ``.`` for thousands and ``,`` for decimals (``$ 1.234.567,00``).
"""

from __future__ import annotations

import functools
import re

from babel import Locale
from babel.numbers import get_group_symbol

__all__ = ["CopParseError", "format_cop", "parse_cop"]

# Longest input echoed back in an error message: enough to recognize it, never a whole row.
_ECHO_LIMIT = 40

# Optional "COP" and/or "$" prefix, optional sign either side of "$" ("-$ 5", "$ -5").
_AMOUNT = re.compile(
    r"""
    ^(?P<sign1>[-+]?)\s*
    (?:COP\s*)?
    (?:\$\s*)?
    (?P<sign2>[-+]?)\s*
    (?P<body>.*?)
    (?:\s*COP)?$
    """,
    re.VERBOSE | re.IGNORECASE,
)
_PLAIN = re.compile(r"[0-9]+")
_DOTTED = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+")
_CENTS = re.compile(r"(?P<int>.+),(?P<cents>[0-9]{1,2})")
_US_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]{1,2})?")


class CopParseError(ValueError):
    """A text that is not a valid COP amount; ``reason`` is the Spanish explanation alone."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"monto inválido: '{_echo(text)}': {reason}")
        self.reason = reason


def _echo(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ECHO_LIMIT else text[: _ECHO_LIMIT - 1] + "…"


def _invalid(text: str, reason: str) -> CopParseError:
    return CopParseError(text, reason)


def parse_cop(text: str, *, allow_negative: bool = False) -> int:
    """Parse a COP amount written the Colombian way into whole pesos.

    Accepts ``1234567``, ``1.234.567``, ``$ 1.234.567``, ``COP 1.234.567`` and ``1.234.567,00``
    (zero cents only). Rejects US grouping (``1,234,567``: a comma is the decimal mark here, so the
    text is ambiguous), misgrouped dots, non-zero cents and, unless ``allow_negative``, a sign.
    Raises ``CopParseError`` (a ``ValueError``) with a Spanish message.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_cop expects str, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise CopParseError(text, "el monto está vacío")
    match = _AMOUNT.match(stripped)
    if match is None:  # pragma: no cover - the pattern matches any string
        raise _invalid(text, "formato no reconocido")
    signs = match["sign1"] + match["sign2"]
    body = match["body"]
    if len(signs) > 1:
        raise _invalid(text, "signo repetido")
    negative = signs == "-"
    if negative and not allow_negative:
        raise _invalid(text, "el monto no puede ser negativo")
    if not body:
        raise _invalid(text, "no contiene dígitos")

    cents_match = _CENTS.fullmatch(body)
    if cents_match is not None and (
        _PLAIN.fullmatch(cents_match["int"]) or _DOTTED.fullmatch(cents_match["int"])
    ):
        if int(cents_match["cents"]) != 0:
            raise _invalid(text, "los montos en COP son pesos enteros; los centavos deben ser 00")
        body = cents_match["int"]

    if _PLAIN.fullmatch(body):
        digits = body
    elif _DOTTED.fullmatch(body):
        digits = body.replace(".", "")
    elif _US_GROUPED.fullmatch(body):
        raise _invalid(
            text,
            "agrupación con comas (formato de EE. UU.) es ambigua; "
            "use puntos para los miles, por ejemplo 1.234.567",
        )
    elif re.fullmatch(r"[0-9.,]+", body):
        raise _invalid(
            text, "separadores mal ubicados: los puntos de miles separan grupos de tres dígitos"
        )
    else:
        raise _invalid(text, "solo se admiten dígitos, puntos de miles y el signo $")
    amount = int(digits)
    return -amount if negative else amount


@functools.cache
def _group_symbol() -> str:
    """The es_CO thousands separator, from babel's CLDR data (read once: a contact renders one
    amount per message, and babel's full currency formatting cost more than the send itself)."""
    locale = Locale.parse("es_CO")
    grouping = locale.currency_formats["standard"].grouping
    if grouping != (3, 3):  # pragma: no cover - CLDR has grouped es_CO by thousands for ever
        raise RuntimeError(f"unexpected es_CO currency grouping {grouping!r}")
    return get_group_symbol(locale)


def format_cop(amount: int) -> str:
    """Format whole pesos for people: ``$ 1.234.567``, ``-$ 1.234.567``; never decimals.

    Grouping and separator come from babel's es_CO data. CLDR versions differ on the space after
    ``$`` (none, a no-break space or a narrow no-break space) and on decimals, so the form is fixed
    here: a plain ASCII space and no cents, stable in logs, tests and templates across upgrades.
    """
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"format_cop expects int, got {type(amount).__name__}")
    sign = "-" if amount < 0 else ""
    return f"{sign}$ {abs(amount):,}".replace(",", _group_symbol())
