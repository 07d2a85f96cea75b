"""Settings: built once at an entry point (CLI, ``Ductape.connect``) from flags and the environment.

A pydantic-settings model whose only source, besides the explicit values, is the mapping the entry
point passes to ``Settings.from_env``: constructing ``Settings(...)`` anywhere else reads nothing,
so no module below an entry point depends on the process environment (``tests/test_settings.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from temporalio.service import TLSConfig

from ductape_jobs.activities.arming.herd_claims import DEFAULT_CLAIMS_PER_SECOND
from ductape_jobs.activities.config.product_config import ConfigError
from ductape_jobs.connection import profile_values
from ductape_jobs.workflows.names import DEFAULT_TASK_QUEUE

_ENVIRON: ContextVar[Mapping[str, str]] = ContextVar("_ENVIRON", default=MappingProxyType({}))
"""The environment ``from_env`` is reading; empty otherwise, so a bare ``Settings()`` is the defaults."""


class _Environment(PydanticBaseSettingsSource):
    """The fields that name a variable (their ``validation_alias``), from ``from_env``'s mapping, exact
    case; an empty value counts as unset. Keyed by field name, so explicit values (the init source,
    listed first) win."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = field.validation_alias
        value = _ENVIRON.get().get(name) if isinstance(name, str) else None
        return value or None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                values[key] = value
        return values


class Settings(BaseSettings):
    """Where the Temporal server is and how this process talks to it."""

    model_config = SettingsConfigDict(
        frozen=True, validate_by_name=True, validate_by_alias=True, arbitrary_types_allowed=True
    )

    address: str = "localhost:7233"
    """Frontend gRPC address (``TEMPORAL_ADDRESS``, or the client profile's; see ``ductape_jobs.connection``)."""
    namespace: str = "default"
    """Temporal namespace (``TEMPORAL_NAMESPACE``, or the client profile's)."""
    api_key: str | None = None
    """Temporal Cloud API key (``TEMPORAL_API_KEY``, or the client profile's); turns TLS on."""
    tls: bool = False
    """Use TLS without an API key (``TEMPORAL_TLS=true``, or a ``tls`` table in the client profile)."""
    tls_config: TLSConfig | None = None
    """The profile's TLS details, certificates already read: server CA (``TEMPORAL_TLS_SERVER_CA_CERT_PATH``),
    server name, and the mTLS client certificate and key (``TEMPORAL_TLS_CLIENT_CERT_PATH``,
    ``TEMPORAL_TLS_CLIENT_KEY_PATH``)."""
    rpc_metadata: Mapping[str, str] = Field(default_factory=dict)
    """gRPC headers of every call (the profile's ``grpc_meta``, ``TEMPORAL_GRPC_META_*``)."""
    identity: str | None = Field(None, min_length=1, max_length=200, validation_alias="DUCTAPE_IDENTITY")
    """Who this client's management actions are recorded as, in the audit trail and in Temporal's
    histories (``DUCTAPE_IDENTITY``); default ``user@host``."""
    task_queue: str = Field(DEFAULT_TASK_QUEUE, validation_alias="DUCTAPE_TASK_QUEUE")
    """Task queue of job workflows and their activities (``DUCTAPE_TASK_QUEUE``)."""
    config_path: Path | None = Field(None, validation_alias="DUCTAPE_CONFIG")
    """Product config YAML (``DUCTAPE_CONFIG``)."""
    secrets_file: Path | None = Field(None, validation_alias="DUCTAPE_SECRETS_FILE")
    """Optional ``NAME=value`` file read in addition to the environment (``DUCTAPE_SECRETS_FILE``)."""
    encryption_keys: str | None = Field(None, validation_alias="DUCTAPE_ENCRYPTION_KEYS")
    """Payload keys, ``kid:base64`` pairs, the first active (``DUCTAPE_ENCRYPTION_KEYS``)."""
    encryption_key_file: Path | None = Field(None, validation_alias="DUCTAPE_ENCRYPTION_KEY_FILE")
    """A file holding those pairs (``DUCTAPE_ENCRYPTION_KEY_FILE``); default ``.data/encryption.keys``."""
    session_store: str | None = Field(None, validation_alias="DUCTAPE_SESSION_STORE")
    """SQLAlchemy async URL of the session store (``DUCTAPE_SESSION_STORE``), e.g.
    ``postgresql+asyncpg://app@db/app``; default ``sqlite+aiosqlite:///.data/sessions.sqlite``."""
    max_cached_workflows: int = Field(10, ge=0, validation_alias="DUCTAPE_MAX_CACHED_WORKFLOWS")
    """Workflows a worker keeps in memory (``DUCTAPE_MAX_CACHED_WORKFLOWS``). Sleeping jobs beyond it are
    evicted and replayed when they wake: memory stays flat with thousands of waiting jobs. Each cached
    job holds its sandbox and the core's state (bench, 10,000 sleeping jobs: 133 MB with 10, 146 MB
    with 50): with 10 a worker stays well under 150 MB; a job's short history and the worker's runner
    (``ductape_jobs.worker.workflow_runner``) make the replay cheap."""
    max_concurrent_workflow_tasks: int | None = Field(
        None, ge=1, validation_alias="DUCTAPE_MAX_CONCURRENT_WORKFLOW_TASKS"
    )
    """Workflow tasks a worker runs at once (``DUCTAPE_MAX_CONCURRENT_WORKFLOW_TASKS``; the SDK's default
    when unset). They run on threads sharing the GIL with the activities' event loop: a worker whose
    jobs come in herds may set 4 (bench, with the earlier HTTP pool: the herd's p99 about 0.7 s better,
    end-to-end throughput about 12% lower)."""
    herd_claims_per_second: int = Field(
        DEFAULT_CLAIMS_PER_SECOND, ge=0, validation_alias="DUCTAPE_HERD_CLAIMS_PER_SECOND"
    )
    """How many claims a second a worker spreads a herd's armed jobs over, just before their instant
    (``DUCTAPE_HERD_CLAIMS_PER_SECOND``; see "Management near the instant" in the README). 0 claims
    every job at its instant: changes then hold up to the instant even in a herd, and a herd of a
    thousand starts about a second later on this machine's dev server."""
    plaintext: bool = Field(False, validation_alias="DUCTAPE_PLAINTEXT")
    """Explicitly allow payloads in clear (``DUCTAPE_PLAINTEXT=1``). Without keys: run without payload
    encryption (history holds data in clear). With keys: still encrypt everything written, and also
    read unencrypted payloads, which are otherwise refused (a migration to encryption)."""
    metrics_address: str | None = Field(None, validation_alias="DUCTAPE_METRICS_ADDRESS")
    """``host:port`` of a Prometheus ``/metrics`` endpoint (``DUCTAPE_METRICS_ADDRESS``); off when unset."""
    otlp_endpoint: str | None = Field(None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    """OTLP/HTTP collector for traces (``OTEL_EXPORTER_OTLP_ENDPOINT``, e.g. ``http://127.0.0.1:4318``)."""
    arm_recurring: bool = Field(True, validation_alias="DUCTAPE_ARM_RECURRING")
    """Arm recurring jobs ahead (``DUCTAPE_ARM_RECURRING=0`` turns it off; README "Arming ahead")."""
    dst_companion: bool = Field(True, validation_alias="DUCTAPE_DST_COMPANION")
    """DST companion schedules for ``repeat.dst`` (``DUCTAPE_DST_COMPANION=0`` turns it off; README)."""
    log_format: Literal["text", "json"] = Field("text", validation_alias="DUCTAPE_LOG_FORMAT")
    """``text`` or ``json`` (``DUCTAPE_LOG_FORMAT``): one JSON object per line for log shippers."""
    codec_token: str | None = Field(None, validation_alias="DUCTAPE_CODEC_TOKEN")
    """Bearer token the codec server requires (``DUCTAPE_CODEC_TOKEN``, or ``--token``)."""
    proxies: Mapping[str, str] = Field(default_factory=dict)
    """The worker's outgoing HTTP proxies (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``,
    either case, as httpx honours them): ``{"http": url, "https": url, "all": url, "no": hosts}``."""

    @field_validator("metrics_address")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"{value!r} must be host:port, e.g. 127.0.0.1:9464")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit values first (they win), then the mapping `from_env` was given, never os.environ.
        return init_settings, _Environment(settings_cls)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, client_profile: bool = True, **overrides: object) -> Settings:
        """Explicit ``overrides`` (``None`` ones are ignored), then ``environ``'s variables, then the
        defaults. With ``client_profile``, the connection (address, namespace, API key, TLS) comes from
        Temporal's client profile (``ductape_jobs.connection``) under the overrides; ``ductape-jobs dev``
        turns it off: it connects to the server it started.

        Raises:
            ConfigError: a value is invalid (naming its variable), or the client profile cannot be loaded.
        """
        values = profile_values(environ) if client_profile else {}
        values["proxies"] = proxy_environment(environ)
        values.update({k: v for k, v in overrides.items() if v is not None})
        with _reading(environ):
            try:
                return cls(**values)
            except ValidationError as err:
                raise ConfigError("; ".join(_problem(cls.model_fields, e) for e in err.errors())) from None

    def session_store_url(self, data_dir: Path = Path(".data")) -> str:
        """The configured session store, else a SQLite file in ``data_dir``."""
        return self.session_store or f"sqlite+aiosqlite:///{data_dir / 'sessions.sqlite'}"

    def connect_options(self) -> dict[str, Any]:
        """The connection keyword arguments of ``temporalio.client.Client.connect``."""
        return {
            "target_host": self.address,
            "namespace": self.namespace,
            "api_key": self.api_key,
            "tls": self.tls_config or self.tls or self.api_key is not None,
            "rpc_metadata": dict(self.rpc_metadata),
        }


@contextmanager
def _reading(environ: Mapping[str, str]) -> Iterator[None]:
    token = _ENVIRON.set(environ)
    try:
        yield
    finally:
        _ENVIRON.reset(token)


def _problem(fields: Mapping[str, FieldInfo], error: Any) -> str:
    """``DUCTAPE_MAX_CACHED_WORKFLOWS: Input should be a valid integer`` (the variable a user sets)."""
    name = str(error["loc"][0]) if error["loc"] else ""
    field = fields.get(name)
    alias = field.validation_alias if field is not None else None
    return f"{alias if isinstance(alias, str) else name}: {error['msg']}"


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
