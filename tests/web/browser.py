"""Helpers (no tests) for driving the console in Debian's Chromium through Playwright."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from pathlib import Path

from playwright.async_api import Browser, Page, Playwright, ViewportSize, expect

from tests.web.support import PASSWORD

# Debian's package (.ci/run installs it when missing); Playwright never downloads a browser here.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
PORTFOLIO_HEADER = [
    "account_id",
    "document_type",
    "document_number",
    "full_name",
    "product",
    "balance_cop",
    "days_past_due",
    "phone",
    "email",
    "address",
    "city",
    "authorized_channels",
]
# Make-believe debtors: name, e-mail, product, balance (as people type it), days past due, city.
DEBTORS = [
    (
        "Luz Marina Restrepo Arango",
        "luz.restrepo",
        "tarjeta_credito",
        "1.850.000",
        "12",
        "Medellín",
    ),
    ("Jhon Fredy Cárdenas Mora", "jhon.cardenas", "libre_inversion", "4.320.500", "35", "Bogotá"),
    ("Paola Andrea Quintero Ríos", "paola.quintero", "microcredito", "780.000", "3", "Cali"),
    ("Carlos Arturo Benítez Peña", "carlos.benitez", "vehiculo", "12.400.000", "64", "Bucaramanga"),
    ("Yuliana Ospina Cardona", "yuliana.ospina", "tarjeta_credito", "2.115.300", "21", "Pereira"),
]


async def launch_chromium(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


async def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Through the login form, as a person would; lands on the role's home page."""
    await page.goto("/login")
    await page.get_by_label("Usuario").fill(username)
    await page.get_by_label("Contraseña").fill(password)
    await page.get_by_role("button", name="Ingresar").click()
    await expect(page.get_by_role("button", name="Salir")).to_be_visible()


def portfolio_csv(prefix: str, bad_balance_on: Sequence[int] = ()) -> bytes:
    """A 5-row portfolio with fresh account ids and documents (tests share one database);
    rows whose index is in `bad_balance_on` get an unreadable balance."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PORTFOLIO_HEADER)
    for i, (name, email, product, balance, days, city) in enumerate(DEBTORS):
        writer.writerow(
            [
                f"{prefix}-{i + 1:03d}",
                "CC",
                str(1_000_000_000 + uuid.uuid4().int % 9_000_000_000),
                name,
                product,
                "doce mil pesos" if i in bad_balance_on else balance,
                days,
                f"+5731{uuid.uuid4().int % 100_000_000:08d}",
                f"{email}@example.co",
                f"Carrera {10 + i * 7} # {20 + i}-{11 + i}",
                city,
                "sms|email|whatsapp|call",
            ]
        )
    return out.getvalue().encode()
