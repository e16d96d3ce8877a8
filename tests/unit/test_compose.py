"""docker-compose.yml and Dockerfile checked statically: no Docker engine runs here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
# In CI the shared folder is a sibling of the clone.
SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"

EXPECTED_SERVICES = {
    "postgres",
    "temporal-admin-tools",
    "temporal",
    "temporal-ui",
    "worker",
    "web",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment", {})
    if isinstance(raw, list):  # the "KEY=value" list form
        return dict(item.split("=", 1) for item in raw)
    return {key: str(value) for key, value in raw.items()}


def test_validates_against_compose_spec(compose: dict[str, Any]) -> None:
    if not SCHEMA.is_file():
        pytest.skip(f"Compose schema not found at {SCHEMA} (shared/ is not a sibling of the repo)")
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    # The file declares draft-07 by a URL jsonschema does not recognize: name the draft explicitly.
    validator = jsonschema.Draft7Validator(schema)
    jsonschema.Draft7Validator.check_schema(schema)
    problems = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(compose)
    ]
    assert problems == []


def test_expected_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= EXPECTED_SERVICES


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} has no image"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and "${" not in image, f"{name}: image {image!r} is not pinned"
        assert re.search(r"\d", tag), f"{name}: tag {tag!r} is not a version"
    assert services["postgres"]["image"].startswith("postgres:16.")
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal-admin-tools"]["image"].startswith("temporalio/admin-tools:")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    assert not any("auto-setup" in service["image"] for service in services.values())


def test_admin_tools_and_server_versions_match(services: dict[str, dict[str, Any]]) -> None:
    server_tag = services["temporal"]["image"].rpartition(":")[2]
    assert services["temporal-admin-tools"]["image"].rpartition(":")[2] == server_tag


def test_admin_tools_sets_up_the_schema(services: dict[str, dict[str, Any]]) -> None:
    admin = services["temporal-admin-tools"]
    script = " ".join(admin["command"]) if isinstance(admin["command"], list) else admin["command"]
    for step in ("temporal-sql-tool", "create", "setup-schema", "update-schema"):
        assert step in script
    assert "postgresql/v12" in script
    assert env(admin)["DB"] == "postgres12"
    assert env(admin)["POSTGRES_SEEDS"] == "postgres"
    assert admin["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_temporal_server_on_postgres(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    variables = env(temporal)
    assert variables["DB"] == "postgres12"
    assert variables["POSTGRES_SEEDS"] == "postgres"
    assert variables["DB_PORT"] == "5432"
    depends = temporal["depends_on"]
    assert depends["temporal-admin-tools"]["condition"] == "service_completed_successfully"
    assert depends["postgres"]["condition"] == "service_healthy"


def test_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    postgres_test = services["postgres"]["healthcheck"]["test"]
    assert "pg_isready" in " ".join(postgres_test)
    temporal_test = services["temporal"]["healthcheck"]["test"]
    assert "7233" in " ".join(temporal_test)


def test_postgres_has_a_volume(compose: dict[str, Any], services: dict[str, Any]) -> None:
    mounts = services["postgres"]["volumes"]
    named = [m.split(":", 1)[0] for m in mounts if m.endswith(":/var/lib/postgresql/data")]
    assert named and named[0] in compose["volumes"]


def test_worker_and_web_wiring(services: dict[str, dict[str, Any]]) -> None:
    postgres_env = env(services["postgres"])
    for name in ("worker", "web"):
        service = services[name]
        assert service["image"] == "cobranza:0.1.0"
        assert service["build"]["dockerfile"] == "Dockerfile"
        variables = env(service)
        host, _, port = variables["TEMPORAL_ADDRESS"].partition(":")
        assert host in services and services[host]["image"].startswith("temporalio/server:")
        assert port == "7233"
        assert variables["TEMPORAL_NAMESPACE"] == "default"
        url = urlsplit(variables["DATABASE_URL"])
        assert url.scheme in {"postgresql", "postgres"}
        assert url.hostname in services and services[url.hostname]["image"].startswith("postgres:")
        assert url.port == 5432
        assert url.username == postgres_env["POSTGRES_USER"]
        assert url.password == postgres_env["POSTGRES_PASSWORD"]
        assert url.path == "/" + postgres_env["POSTGRES_DB"]
        depends = service["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["temporal"]["condition"] == "service_healthy"
    assert services["worker"]["command"] == ["python", "worker.py"]
    assert services["worker"]["deploy"]["replicas"] == 2
    assert "ports" not in services["worker"]  # replicas cannot share a host port
    assert "container_name" not in services["worker"]
    assert services["web"]["command"] == [
        "cobranza",
        "web",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
    ]
    assert "8000:8000" in services["web"]["ports"]


def test_ui_port(services: dict[str, dict[str, Any]]) -> None:
    assert "8080:8080" in services["temporal-ui"]["ports"]
    assert env(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_depends_on_targets_exist(services: dict[str, dict[str, Any]]) -> None:
    allowed = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for target, spec in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert spec["condition"] in allowed
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"


def test_dockerfile() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    instructions = [line.strip() for line in text.splitlines() if line.strip()]
    instructions = [line for line in instructions if not line.startswith("#")]
    (base,) = [line for line in instructions if line.upper().startswith("FROM ")]
    image = base.split()[1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", image), image
    assert any(re.match(r"RUN pip install \.(\s|$)", line) for line in instructions)
    users = [line.split()[1] for line in instructions if line.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    # The user switch comes after the install, so the runtime is unprivileged.
    assert instructions.index(f"USER {users[-1]}") > next(
        i for i, line in enumerate(instructions) if line.startswith("RUN pip install")
    )
