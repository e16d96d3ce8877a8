"""Message templates in Spanish. They state the debt and the ways to pay; by Ley 2300 Art. 7 they
never ask why the debtor defaulted."""

from __future__ import annotations

from cobranza.money import format_cop

TEMPLATES: dict[str, str] = {
    "preventiva_recordatorio": (
        "Hola {nombre}, le recordamos que su {producto} tiene un saldo pendiente de {saldo}. "
        "Responda 1 para comprometerse a pagar."
    ),
    "preventiva_estado_cuenta": (
        "{nombre}, adjuntamos el estado de su {producto}: saldo pendiente {saldo}. "
        "Puede pagar en línea o en cualquier oficina."
    ),
    "administrativa_aviso_mora": (
        "{nombre}, su {producto} presenta mora por {saldo}. Tenemos alternativas de pago para usted."
    ),
    "administrativa_llamada": "Llamada de gestión: {producto}, saldo {saldo}.",
    "administrativa_segundo_aviso": (
        "{nombre}, su obligación sigue en mora por {saldo}. Comuníquese con nosotros."
    ),
    "administrativa_alternativas_pago": (
        "{nombre}, podemos ofrecerle un acuerdo de pago para su {producto} (saldo {saldo})."
    ),
    "prejuridica_requerimiento": (
        "Requerimiento prejurídico: {nombre}, su {producto} tiene un saldo vencido de {saldo}."
    ),
    "prejuridica_llamada": "Llamada prejurídica: {producto}, saldo {saldo}.",
    "prejuridica_ultimo_aviso": (
        "{nombre}, último aviso antes de cobro jurídico de su {producto} por {saldo}."
    ),
    "prejuridica_aviso_entrega_juridico": (
        "{nombre}, su {producto} será entregado a cobro jurídico. Saldo {saldo}."
    ),
}


def render(template: str, *, name: str, product: str, balance_cop: int) -> str:
    text = TEMPLATES.get(template, "{nombre}, su {producto} tiene un saldo pendiente de {saldo}.")
    return text.format(
        nombre=name, producto=product.replace("_", " "), saldo=format_cop(balance_cop)
    )
