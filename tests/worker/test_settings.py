"""One ``Settings``, built at the entry point from the mapping it is given: pydantic-settings for the
``DUCTAPE_*`` variables, ``temporalio.envconfig`` for the connection, nothing below reading the environment."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from ductape_jobs.activities.config.product_config import ConfigError
from ductape_jobs.client import Ductape
from ductape_jobs.settings import Settings
from tests.conftest import TEST_KEYRING

ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINTS = {"starter/cli/main.py", "starter/client.py"}
"""The only modules that may read the process environment: the CLI's ``run`` and ``Ductape.connect``."""


def test_the_variables_fill_the_fields_and_flags_win() -> None:
    settings = Settings.from_env(
        {
            "DUCTAPE_TASK_QUEUE": "from-env",
            "DUCTAPE_MAX_CACHED_WORKFLOWS": "7",
            "DUCTAPE_MAX_CONCURRENT_WORKFLOW_TASKS": "3",
            "DUCTAPE_HERD_CLAIMS_PER_SECOND": "0",
            "DUCTAPE_PLAINTEXT": "yes",
            "DUCTAPE_CONFIG": "product.yaml",
            "DUCTAPE_LOG_FORMAT": "",  # empty counts as unset
            "DUCTAPE_METRICS_ADDRESS": "127.0.0.1:9464",
            "HTTPS_PROXY": "http://proxy:3128",
        },
        task_queue="from-flag",
        namespace=None,  # a flag not given
    )
    assert (settings.task_queue, settings.namespace, settings.log_format) == ("from-flag", "default", "text")
    assert (settings.max_cached_workflows, settings.max_concurrent_workflow_tasks) == (7, 3)
    assert (settings.herd_claims_per_second, settings.plaintext) == (0, True)
    assert settings.config_path == Path("product.yaml")
    assert settings.metrics_address == "127.0.0.1:9464"
    assert settings.proxies == {"https": "http://proxy:3128"}
    with pytest.raises(ValueError, match="frozen"):
        settings.task_queue = "other"  # type: ignore[misc]


def test_a_bad_value_is_refused_naming_its_variable() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env(
            {"DUCTAPE_MAX_CACHED_WORKFLOWS": "many", "DUCTAPE_LOG_FORMAT": "xml", "DUCTAPE_METRICS_ADDRESS": "9464"}
        )
    message = str(err.value)
    assert "DUCTAPE_MAX_CACHED_WORKFLOWS: Input should be a valid integer" in message
    assert "DUCTAPE_LOG_FORMAT: Input should be 'text' or 'json'" in message
    assert "DUCTAPE_METRICS_ADDRESS: Value error, '9464' must be host:port" in message


def test_a_bare_settings_reads_nothing_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUCTAPE_TASK_QUEUE", "from-process")
    monkeypatch.setenv("DUCTAPE_MAX_CACHED_WORKFLOWS", "99")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "elsewhere:7233")
    assert Settings() == Settings.from_env({}, client_profile=False)
    assert (Settings().task_queue, Settings().max_cached_workflows, Settings().address) == (
        "ductape-jobs",
        10,
        "localhost:7233",
    )
    assert Settings.from_env({}).task_queue == "ductape-jobs"  # only the mapping given counts


def environment_reads(path: Path) -> list[str]:
    """Where a module reads the process environment: ``os.environ``, ``os.getenv``, or either imported."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os":
            if node.attr in _ENVIRONMENT:
                found.append(f"{path.name}:{node.lineno} os.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [
                f"{path.name}:{node.lineno} from os import {a.name}" for a in node.names if a.name in _ENVIRONMENT
            ]
    return found


_ENVIRONMENT = {"environ", "environb", "getenv", "getenvb"}


def test_nothing_below_the_entry_points_reads_the_environment() -> None:
    modules = [path for package in ("workflows", "activities", "starter") for path in (ROOT / package).rglob("*.py")]
    assert len(modules) > 50  # the packages were found
    below = [path for path in modules if str(path.relative_to(ROOT)) not in ENTRY_POINTS]
    assert [read for path in sorted(below) for read in environment_reads(path)] == []
    assert environment_reads(ROOT / "starter" / "cli" / "main.py")  # the scan does see the entry point's own reads


# ------------------------------------------------------------------------------------------------
# The connection: temporalio.envconfig


PROFILES = """
[profile.default]
address = "default.example:7233"
namespace = "default-ns"

[profile.staging]
address = "staging.example:7233"
namespace = "staging-ns"
api_key = "staging-key"
[profile.staging.grpc_meta]
x-team = "jobs"

[profile.prod]
address = "prod.example:7233"
namespace = "prod-ns"
[profile.prod.tls]
client_cert_path = "{cert}"
client_key_path = "{key}"
server_ca_cert_path = "{ca}"
server_name = "prod.internal"
"""


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    for name in ("cert", "key", "ca"):
        (tmp_path / f"{name}.pem").write_text(f"-----{name.upper()}-----\n")
    file = tmp_path / "temporal.toml"
    file.write_text(PROFILES.format(**{name: tmp_path / f"{name}.pem" for name in ("cert", "key", "ca")}))
    return file


def test_the_profile_file_selects_address_and_namespace(profiles: Path) -> None:
    settings = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(profiles)})
    assert settings.connect_options() == {
        "target_host": "default.example:7233",
        "namespace": "default-ns",
        "api_key": None,
        "tls": False,
        "rpc_metadata": {},
    }
    staging = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(profiles), "TEMPORAL_PROFILE": "staging"})
    assert staging.connect_options() == {
        "target_host": "staging.example:7233",
        "namespace": "staging-ns",
        "api_key": "staging-key",
        "tls": True,  # an API key turns TLS on
        "rpc_metadata": {"x-team": "jobs"},
    }


def test_an_mtls_profile_yields_the_client_certificate(profiles: Path) -> None:
    settings = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(profiles), "TEMPORAL_PROFILE": "prod"})
    assert settings.connect_options()["tls"] == TLSConfig(
        client_cert=b"-----CERT-----\n",
        client_private_key=b"-----KEY-----\n",
        server_root_ca_cert=b"-----CA-----\n",
        domain="prod.internal",
    )


def test_variables_override_the_profile_and_flags_override_both(profiles: Path) -> None:
    environ = {"TEMPORAL_CONFIG_FILE": str(profiles), "TEMPORAL_NAMESPACE": "env-ns", "TEMPORAL_TLS": "true"}
    settings = Settings.from_env(environ, address="flag.example:7233")
    options = settings.connect_options()
    assert (options["target_host"], options["namespace"]) == ("flag.example:7233", "env-ns")
    assert options["tls"] == TLSConfig()  # TEMPORAL_TLS=true: TLS with the system's roots


def test_without_profile_or_variables_the_defaults_apply(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    options = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(empty)}).connect_options()
    assert (options["target_host"], options["namespace"], options["tls"]) == ("localhost:7233", "default", False)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"TEMPORAL_CONFIG_FILE": "/nowhere/temporal.toml"}, "TEMPORAL_CONFIG_FILE /nowhere/temporal.toml: no such"),
        ({"TEMPORAL_PROFILE": "nope"}, "Profile 'nope' not found"),
        ({"TEMPORAL_TLS_CLIENT_CERT_PATH": "/nowhere/cert.pem"}, "cannot read /nowhere/cert.pem"),
    ],
)
def test_a_broken_profile_is_a_config_error(profiles: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env({"TEMPORAL_CONFIG_FILE": str(profiles), **environ})


async def test_ductape_connects_through_a_profile(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    address = dev_env.client.service_client.config.target_host
    file = tmp_path / "temporal.toml"
    file.write_text(f'[profile.local]\naddress = "{address}"\nnamespace = "default"\n')
    environ = {
        "TEMPORAL_CONFIG_FILE": str(file),
        "TEMPORAL_PROFILE": "local",
        "DUCTAPE_ENCRYPTION_KEYS": TEST_KEYRING.to_text(),
    }
    async with Ductape.connect(environ=environ) as ductape:
        assert ductape.client.service_client.config.target_host == address
        assert await ductape.client.service_client.check_health()
