"""Settings: built once at an entry point (CLI, ``Ductape.connect``) from flags and the environment."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from activities.herd_claims import DEFAULT_CLAIMS_PER_SECOND
from workflows.names import DEFAULT_TASK_QUEUE


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Where the Temporal server is and how this process talks to it."""

    address: str = "localhost:7233"
    """Frontend gRPC address (``TEMPORAL_ADDRESS``)."""
    namespace: str = "default"
    """Temporal namespace (``TEMPORAL_NAMESPACE``)."""
    api_key: str | None = None
    """Temporal Cloud API key (``TEMPORAL_API_KEY``); turns TLS on."""
    tls: bool = False
    """Use TLS without an API key (``TEMPORAL_TLS=true``)."""
    task_queue: str = DEFAULT_TASK_QUEUE
    """Task queue of job workflows and their activities (``DUCTAPE_TASK_QUEUE``)."""
    config_path: Path | None = None
    """Product config YAML (``DUCTAPE_CONFIG``)."""
    secrets_file: Path | None = None
    """Optional ``NAME=value`` file read in addition to the environment (``DUCTAPE_SECRETS_FILE``)."""
    encryption_keys: str | None = None
    """Payload keys, ``kid:base64`` pairs, the first active (``DUCTAPE_ENCRYPTION_KEYS``)."""
    encryption_key_file: Path | None = None
    """A file holding those pairs (``DUCTAPE_ENCRYPTION_KEY_FILE``); default ``.data/encryption.keys``."""
    session_store: str | None = None
    """SQLAlchemy async URL of the session store (``DUCTAPE_SESSION_STORE``), e.g.
    ``postgresql+asyncpg://app@db/app``; default ``sqlite+aiosqlite:///.data/sessions.sqlite``."""
    max_cached_workflows: int = 10
    """Workflows a worker keeps in memory (``DUCTAPE_MAX_CACHED_WORKFLOWS``). Sleeping jobs beyond it are
    evicted and replayed when they wake: memory stays flat with thousands of waiting jobs. Each cached
    job holds its sandbox and the core's state (bench, 10,000 sleeping jobs: 133 MB with 10, 146 MB
    with 50): with 10 a worker stays well under 150 MB; a job's short history and the worker's runner
    (``starter.workflow_runner``) make the replay cheap."""
    max_concurrent_workflow_tasks: int | None = None
    """Workflow tasks a worker runs at once (``DUCTAPE_MAX_CONCURRENT_WORKFLOW_TASKS``; the SDK's default
    when unset). They run on threads sharing the GIL with the activities' event loop: a worker whose
    jobs come in herds may set 4 (bench, with the earlier HTTP pool: the herd's p99 about 0.7 s better,
    end-to-end throughput about 12% lower)."""
    herd_claims_per_second: int = DEFAULT_CLAIMS_PER_SECOND
    """How many claims a second a worker spreads a herd's armed jobs over, just before their instant
    (``DUCTAPE_HERD_CLAIMS_PER_SECOND``; see "Management near the instant" in the README). 0 claims
    every job at its instant: changes then hold up to the instant even in a herd, and a herd of a
    thousand starts about a second later on this machine's dev server."""
    plaintext: bool = False
    """Explicitly allow payloads in clear (``DUCTAPE_PLAINTEXT=1``). Without keys: run without payload
    encryption (history holds data in clear). With keys: still encrypt everything written, and also
    read unencrypted payloads, which are otherwise refused (a migration to encryption)."""
    metrics_address: str | None = None
    """``host:port`` of a Prometheus ``/metrics`` endpoint (``DUCTAPE_METRICS_ADDRESS``); off when unset."""
    otlp_endpoint: str | None = None
    """OTLP/HTTP collector for traces (``OTEL_EXPORTER_OTLP_ENDPOINT``, e.g. ``http://127.0.0.1:4318``)."""
    arm_recurring: bool = True
    """Arm recurring jobs ahead (``DUCTAPE_ARM_RECURRING=0`` turns it off; README "Arming ahead")."""
    dst_companion: bool = True
    """DST companion schedules for ``repeat.dst`` (``DUCTAPE_DST_COMPANION=0`` turns it off; README)."""
    log_format: str = "text"
    """``text`` or ``json`` (``DUCTAPE_LOG_FORMAT``): one JSON object per line for log shippers."""
    proxies: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """The worker's outgoing HTTP proxies (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``,
    either case, as httpx honours them): ``{"http": url, "https": url, "all": url, "no": hosts}``."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: object) -> Settings:
        """Environment values, then explicit overrides (``None`` overrides are ignored)."""
        values: dict[str, object] = {}
        env_names = {
            "address": "TEMPORAL_ADDRESS",
            "namespace": "TEMPORAL_NAMESPACE",
            "api_key": "TEMPORAL_API_KEY",
            "task_queue": "DUCTAPE_TASK_QUEUE",
            "metrics_address": "DUCTAPE_METRICS_ADDRESS",
            "otlp_endpoint": "OTEL_EXPORTER_OTLP_ENDPOINT",
            "log_format": "DUCTAPE_LOG_FORMAT",
        }
        for field, name in env_names.items():
            if environ.get(name):
                values[field] = environ[name]
        if environ.get("TEMPORAL_TLS", "").lower() in {"1", "true", "yes"}:
            values["tls"] = True
        if environ.get("DUCTAPE_CONFIG"):
            values["config_path"] = Path(environ["DUCTAPE_CONFIG"])
        if environ.get("DUCTAPE_SECRETS_FILE"):
            values["secrets_file"] = Path(environ["DUCTAPE_SECRETS_FILE"])
        if environ.get("DUCTAPE_SESSION_STORE"):
            values["session_store"] = environ["DUCTAPE_SESSION_STORE"]
        if environ.get("DUCTAPE_ENCRYPTION_KEYS"):
            values["encryption_keys"] = environ["DUCTAPE_ENCRYPTION_KEYS"]
        if environ.get("DUCTAPE_ENCRYPTION_KEY_FILE"):
            values["encryption_key_file"] = Path(environ["DUCTAPE_ENCRYPTION_KEY_FILE"])
        if environ.get("DUCTAPE_MAX_CACHED_WORKFLOWS"):
            values["max_cached_workflows"] = int(environ["DUCTAPE_MAX_CACHED_WORKFLOWS"])
        if environ.get("DUCTAPE_HERD_CLAIMS_PER_SECOND"):
            values["herd_claims_per_second"] = int(environ["DUCTAPE_HERD_CLAIMS_PER_SECOND"])
        if environ.get("DUCTAPE_MAX_CONCURRENT_WORKFLOW_TASKS"):
            values["max_concurrent_workflow_tasks"] = int(environ["DUCTAPE_MAX_CONCURRENT_WORKFLOW_TASKS"])
        if environ.get("DUCTAPE_PLAINTEXT", "").lower() in {"1", "true", "yes"}:
            values["plaintext"] = True
        if environ.get("DUCTAPE_ARM_RECURRING", "").lower() in {"0", "false", "no"}:
            values["arm_recurring"] = False
        if environ.get("DUCTAPE_DST_COMPANION", "").lower() in {"0", "false", "no"}:
            values["dst_companion"] = False
        values["proxies"] = proxy_environment(environ)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("config_path", "secrets_file", "encryption_key_file"):
            if isinstance(values.get(key), str):
                values[key] = Path(str(values[key]))
        return dataclasses.replace(cls(), **values)  # type: ignore[arg-type]

    def session_store_url(self, data_dir: Path = Path(".data")) -> str:
        """The configured session store, else a SQLite file in ``data_dir``."""
        return self.session_store or f"sqlite+aiosqlite:///{data_dir / 'sessions.sqlite'}"


_PROXY_SCHEMES = ("http", "https", "all", "no")


def proxy_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The proxy variables of ``environ`` as ``urllib.request.getproxies_environment`` reads them from
    the process environment (what httpx uses on Linux): ``*_proxy`` in either case, the lowercase one
    winning; an empty lowercase one unsets; ``HTTP_PROXY`` ignored in a CGI request (httpoxy).
    """
    found: dict[str, str] = {}
    for name, value in environ.items():
        if value and name[-6:].lower() == "_proxy":
            found[name[:-6].lower()] = value
    if "REQUEST_METHOD" in environ:
        found.pop("http", None)
    for name, value in environ.items():
        if name[-6:] == "_proxy":
            if value:
                found[name[:-6].lower()] = value
            else:
                found.pop(name[:-6].lower(), None)
    return {scheme: found[scheme] for scheme in _PROXY_SCHEMES if scheme in found}
