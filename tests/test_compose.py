"""docker-compose.yml cannot run here (no Docker engine): check that it says what it should and stays
truthful to the CLI and settings it relies on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from activities.product_config import load_product_config
from starter.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def test_the_stack_has_its_services_on_official_images() -> None:
    assert set(SERVICES) == {"postgresql", "temporal", "temporal-ui", "codec-server", "worker"}
    assert SERVICES["temporal"]["image"].startswith("temporalio/auto-setup:")
    assert SERVICES["temporal-ui"]["image"].startswith("temporalio/ui:")
    assert SERVICES["postgresql"]["image"].startswith("postgres:")
    for name in ("temporal", "temporal-ui", "postgresql"):
        assert re.search(r":\d+(\.\d+)*$", SERVICES[name]["image"]), f"{name}: pin the image version"
    assert SERVICES["worker"]["build"] == "."
    assert SERVICES["codec-server"]["build"] == "."
    assert (ROOT / "Dockerfile").read_text().count('ENTRYPOINT ["ductape-jobs"]') == 1


def test_ports_health_and_start_order() -> None:
    assert SERVICES["temporal"]["ports"] == ["7233:7233"]
    assert SERVICES["temporal-ui"]["ports"] == ["8233:8080"]
    assert SERVICES["codec-server"]["ports"] == ["8081:8081"]
    assert "ports" not in SERVICES["worker"]
    assert "container_name" not in SERVICES["worker"]
    for name in ("postgresql", "temporal", "codec-server"):
        assert "healthcheck" in SERVICES[name], name
    assert SERVICES["temporal"]["depends_on"]["postgresql"]["condition"] == "service_healthy"
    assert SERVICES["worker"]["depends_on"]["temporal"]["condition"] == "service_healthy"
    assert SERVICES["temporal"]["environment"]["DB"] == "postgres12"


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
    settings_source = (ROOT / "starter" / "settings.py").read_text()
    for key in SERVICES["worker"]["environment"]:
        if key.startswith(("TEMPORAL_", "DUCTAPE_")):
            assert f'"{key}"' in settings_source, f"{key} is not read by starter/settings.py"
    assert "DUCTAPE_CODEC_TOKEN" in (ROOT / "starter" / "cli.py").read_text()
    assert SERVICES["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"].startswith("http://localhost:8081/t/")


def test_the_worker_is_given_exactly_the_secrets_its_config_declares() -> None:
    environment = SERVICES["worker"]["environment"]
    passed = {key for key in environment if not key.startswith(("TEMPORAL_", "DUCTAPE_"))}
    assert passed == load_product_config(ROOT / "examples" / "product.yaml").declared_secrets()
