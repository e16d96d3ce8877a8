"""On a DATABASE_URL server the demo runs in its own database, recreated by every demo.

An earlier demo leaves its collections open in Postgres while its Temporal state goes with its
`.cobranza/`; in a shared database those rows would hold every demo account and the next demo's
campaign would start nothing.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from cobranza import localstack
from cobranza.settings import Settings

pytestmark = pytest.mark.integration


def test_each_demo_gets_its_database_afresh_on_a_database_url_server(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"cobranza_demo_test_{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(localstack, "DEMO_DATABASE", name)
    # The guard against a Temporal server already on :7233 is not what is tested here.
    monkeypatch.setattr(localstack, "_port_open", lambda host, port: False)
    settings = Settings(database_url=server_url, state_dir=tmp_path)
    try:
        first = localstack.fresh_demo_state(settings)
        assert first.database_url is not None
        assert conninfo_to_dict(first.database_url)["dbname"] == name
        assert settings.database_url == server_url  # the caller's settings are left as they were
        with psycopg.connect(first.database_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE left_by_earlier_demo (id int)")
        again = localstack.fresh_demo_state(settings)
        assert again.database_url == first.database_url
        with psycopg.connect(again.database_url, autocommit=True) as conn:
            cur = conn.execute("SELECT to_regclass('left_by_earlier_demo')")
            assert cur.fetchone() == (None,)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
