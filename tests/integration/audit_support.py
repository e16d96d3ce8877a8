"""Helpers for the audit tests: short strategies and running one account to its end."""

from __future__ import annotations

from typing import Any

import psycopg

from cobranza.strategy import Strategy


def short_strategy(
    wait: str = "1h", grace: str = "1h", *, contacts: bool = True, name: str = "audit-short"
) -> Strategy:
    """Contact, wait, promise check, escalate, contact, close: every step kind, quickly.

    Without contacts it runs the same at any hour on the dev server: contacts follow the legal
    contact windows in real time there (none at night, on Sundays or holidays).
    """
    sms = {
        "id": "s-sms",
        "kind": "contact",
        "channel": "sms",
        "template": "preventiva_recordatorio",
    }
    email = {
        "id": "s-email",
        "kind": "contact",
        "channel": "email",
        "template": "administrativa_alternativas_pago",
    }
    steps: list[dict[str, Any]] = [
        {"id": "s-wait", "kind": "wait", "duration": wait},
        {"id": "s-promise", "kind": "promise_check", "grace": grace},
        {"id": "s-escalate", "kind": "escalate", "to_stage": "administrativa"},
        {"id": "s-wait-2", "kind": "wait", "duration": wait},
        {"id": "s-close", "kind": "close", "outcome": "exhausted"},
    ]
    if contacts:
        steps.insert(0, sms)
        steps.insert(4, email)
    return Strategy.model_validate(
        {
            "name": name,
            "version": "test-1",
            "promise_max_horizon": "1d",
            "reply_promise_after": wait,
            "steps": steps,
        }
    )


def tamper(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Run SQL as superuser with triggers off: what someone bypassing the app could do."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(sql.encode(), params)
