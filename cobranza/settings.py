"""Process configuration, read once from the environment."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

TASK_QUEUE = "cobranza"


class Settings(BaseModel):
    temporal_address: str = Field(default="127.0.0.1:7233")
    temporal_namespace: str = Field(default="default")
    task_queue: str = Field(default=TASK_QUEUE)
    # None means "start the embedded Postgres under state_dir" (local stack only).
    database_url: str | None = None
    # Anchored at the project folder, so commands agree on it from any working directory.
    state_dir: Path = Field(default=Path(__file__).resolve().parent.parent / ".cobranza")
    db_pool_max: int = Field(default=10, ge=1)
    # Simulated provider: how debtors answer (rates) and the seed that makes it repeatable.
    sim_seed: int = 2300
    sim_failure_rate: float = Field(default=0.05, ge=0, le=1)
    sim_reply_rate: float = Field(default=0.35, ge=0, le=1)
    # The web console: where it listens, the secret that signs its cookies (kept in state_dir
    # when unset), whether cookies need HTTPS, and the Temporal UI its links open.
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=1, le=65535)
    web_secret: str | None = None
    web_secure_cookies: bool = False
    temporal_ui_url: str = "http://localhost:8233"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        values: dict[str, object] = {}
        mapping = {
            "TEMPORAL_ADDRESS": "temporal_address",
            "TEMPORAL_NAMESPACE": "temporal_namespace",
            "COBRANZA_TASK_QUEUE": "task_queue",
            "DATABASE_URL": "database_url",
            "COBRANZA_STATE_DIR": "state_dir",
            "COBRANZA_DB_POOL_MAX": "db_pool_max",
            "COBRANZA_SIM_SEED": "sim_seed",
            "COBRANZA_SIM_FAILURE_RATE": "sim_failure_rate",
            "COBRANZA_SIM_REPLY_RATE": "sim_reply_rate",
            "COBRANZA_WEB_HOST": "web_host",
            "COBRANZA_WEB_PORT": "web_port",
            "COBRANZA_WEB_SECRET": "web_secret",
            "COBRANZA_WEB_SECURE_COOKIES": "web_secure_cookies",
            "COBRANZA_TEMPORAL_UI_URL": "temporal_ui_url",
        }
        for var, field in mapping.items():
            if env.get(var):
                values[field] = env[var]
        return cls.model_validate(values)
