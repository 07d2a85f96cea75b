"""The product configuration (YAML): what each product's event tags mean, per environment.

Loaded once at the worker's (or client's) entry point and handed down; validated by pydantic with
errors that name the key path (``products.shop.apps.mail.envs.prd.base_url: is required``).
Values may reference secrets as ``$Secret{NAME}``; they are kept as written here and only resolved
inside activities, at use time (see ``ductape_jobs.activities.config.secrets``). Each product lists the names it may use
(``secrets: [EMAIL_KEY]``); a reference to any other name is refused at load, naming its key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ductape_jobs.activities.broker.config import BrokerDef
from ductape_jobs.activities.config.flow import RateLimitDef, rate_limit_queue
from ductape_jobs.activities.config.secrets import SECRET_NAME, secret_references
from ductape_jobs.activities.database.config import DatabaseDef
from ductape_jobs.activities.graph.config import GraphDef
from ductape_jobs.activities.notification.config import NotificationDef
from ductape_jobs.activities.routing.config import FeatureDef, FunctionDef, RouteDef
from ductape_jobs.activities.session.config import SessionDef
from ductape_jobs.activities.storage.config import StorageDef
from ductape_jobs.workflows.contracts.flow_control import (
    ConcurrencyDef,
    DebounceDef,
    FairnessKey,
    FairnessWeight,
    Priority,
)
from ductape_jobs.workflows.contracts.notification import CHANNELS

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class ConfigError(ValueError):
    """The product configuration is missing, unreadable or invalid; the message names the key path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppEnv(_Strict):
    """Where an app lives in one environment."""

    base_url: str = Field(min_length=1)
    """Base URL every action path is appended to (``https://api.example.com``)."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Headers sent with every action of the app in this environment; ``$Secret{...}`` allowed."""
    timeout_ms: int = Field(30_000, ge=1)
    """Timeout of one HTTP request."""

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) and "$Secret{" not in value:
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class ActionDef(_Strict):
    """One app action: the request it sends."""

    method: HttpMethod = "POST"
    path: str = "/"
    """Path below the base URL; ``:name`` segments are filled from ``params``."""
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_ms: int | None = Field(None, ge=1)
    """Overrides the environment's request timeout."""
    response_headers: list[str] = Field(default_factory=lambda: ["content-type", "location", "etag"])
    """Response headers copied into the job's result."""
    priority: Priority | None = None
    """Of this action's jobs, unless a job gives its own (README "Priority and fair shares")."""
    fairness_key: FairnessKey | None = None
    fairness_weight: FairnessWeight | None = None
    rate_limit: RateLimitDef | None = None
    """This action's own limit, instead of its app's (README "Rate limits per target")."""
    concurrency: ConcurrencyDef | None = None
    """Runs at a time per key, unless a job gives its own (README "Concurrency per key")."""
    debounce: DebounceDef | None = None
    """Of this action's jobs, unless a job gives its own (README "Debounce")."""

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _slash(cls, value: str) -> str:
        return value if value.startswith("/") else f"/{value}"


class AppDef(_Strict):
    envs: dict[str, AppEnv]
    actions: dict[str, ActionDef] = Field(default_factory=dict)
    priority: Priority | None = None
    """Of every action's jobs, unless the action or the job gives its own."""
    fairness_key: FairnessKey | None = None
    fairness_weight: FairnessWeight | None = None
    rate_limit: RateLimitDef | None = None
    """Calls per second (or minute) that all the app's actions without their own limit share, in each env."""
    concurrency: ConcurrencyDef | None = None
    debounce: DebounceDef | None = None


class CacheDef(_Strict):
    """A cache tag: identical jobs dispatched with it run once; a success is reused for ``ttl_ms``."""

    ttl_ms: int = Field(ge=0)


class WebhookDef(_Strict):
    """An endpoint that receives job events, signed with ``secret``."""

    url: str = Field(min_length=1)
    secret: str = Field(min_length=1)
    """HMAC-SHA256 key of the signature; write it as ``$Secret{NAME}``."""
    events: list[
        Literal["job.scheduled", "job.started", "job.completed", "job.failed", "job.cancelled", "job.paused",
                "job.resumed"]
    ] = Field(default_factory=list)  # fmt: skip
    """Events to send; empty = all."""
    timeout_ms: int = Field(10_000, ge=1)


class ProductDef(_Strict):
    envs: list[str] = Field(min_length=1)
    secrets: list[str] = Field(default_factory=list)
    """The ``$Secret{NAME}`` names this product may use, in its config and in its jobs' inputs; the
    worker reads these (and only these) from its environment or secrets file."""
    apps: dict[str, AppDef] = Field(default_factory=dict)
    sessions: dict[str, SessionDef] = Field(default_factory=dict)
    # Sections of later event types; accepted now so configs can be written ahead of them.
    notifications: dict[str, NotificationDef] = Field(default_factory=dict)
    databases: dict[str, DatabaseDef] = Field(default_factory=dict)
    storage: dict[str, StorageDef] = Field(default_factory=dict)
    brokers: dict[str, BrokerDef] = Field(default_factory=dict)
    graphs: dict[str, GraphDef] = Field(default_factory=dict)
    """``graph`` jobs (``ductape.graphs.dispatch``) by graph tag: FalkorDB or Bolt servers."""
    functions: dict[str, FunctionDef] = Field(default_factory=dict)
    """``function`` jobs by tag: a Python callable or an HTTP function."""
    features: dict[str, FeatureDef] = Field(default_factory=dict)
    """``feature`` jobs (``ductape.workflows.dispatch``) by tag: workflow classes run as children."""
    fallbacks: dict[str, RouteDef] = Field(default_factory=dict)
    """``fallback`` jobs by tag: options tried in order until one succeeds."""
    quotas: dict[str, RouteDef] = Field(default_factory=dict)
    """``quota`` jobs by tag: options picked by weight, the next one taking over on failure."""
    caches: dict[str, CacheDef] = Field(default_factory=dict)
    webhooks: dict[str, WebhookDef] = Field(default_factory=dict)
    """Job-event receivers by name."""
    jobs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Job definitions (seed 004's ``IProductJob`` without ``tag``: the key is the tag), for ``apply``."""

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not SECRET_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a secret name (a letter or _, then letters, digits, _ . or -)")
        return value

    @model_validator(mode="after")
    def _known_envs(self) -> ProductDef:
        # Every section whose components are set up per env (apps, databases, brokers...), whichever
        # event type it belongs to.
        for section in type(self).model_fields:
            components = getattr(self, section)
            if not isinstance(components, Mapping):
                continue
            for name, component in components.items():
                envs = getattr(component, "envs", None)
                if not isinstance(envs, Mapping):
                    continue
                for env in envs:
                    if env not in self.envs:
                        raise ValueError(
                            f"{section}.{name}.envs.{env}: env {env!r} is not one of the product's envs {self.envs}"
                        )
        return self


class ProductConfig(_Strict):
    """The whole file: ``products: {<product_tag>: ...}``."""

    products: dict[str, ProductDef] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _declared_secrets(self) -> ProductConfig:
        # Checked here, not on ProductDef, so each message carries the whole key path.
        problems = []
        for tag, product in self.products.items():
            values = product.model_dump(mode="json", by_alias=True, exclude={"secrets"})
            for path, name in secret_references(values, f"products.{tag}"):
                if name not in product.secrets:
                    problems.append(f"{path}: secret {name!r} is not declared in products.{tag}.secrets")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def declared_secrets(self) -> frozenset[str]:
        """Every product's declared secret names: all the worker may read."""
        return frozenset(name for product in self.products.values() for name in product.secrets)

    def product(self, tag: str) -> ProductDef:
        """Raises: ConfigError if the product is not configured."""
        found = self.products.get(tag)
        if found is None:
            raise ConfigError(f"product {tag!r} is not in the product config (known: {sorted(self.products)})")
        return found

    def rate_limit(
        self, task_queue: str, product: str, env: str, app: str, action: str
    ) -> tuple[str, RateLimitDef] | None:
        """The limit an action's calls wait on, and its task queue: the action's own, else its app's (an
        action with its own limit is not counted against its app's), else None."""
        app_def = self.products[product].apps.get(app) if product in self.products else None
        if app_def is None or env not in app_def.envs:
            return None
        own = app_def.actions[action].rate_limit if action in app_def.actions else None
        if own is not None:
            return rate_limit_queue(task_queue, product, env, app, action), own
        if app_def.rate_limit is not None:
            return rate_limit_queue(task_queue, product, env, app), app_def.rate_limit
        return None

    def channel_queues(self, task_queue: str, product: str, env: str, notification: str) -> dict[str, str]:
        """The task queue of each rate-limited channel provider of a notification in ``env``."""
        found = self.products[product].notifications.get(notification) if product in self.products else None
        providers = found.envs.get(env) if found is not None else None
        if providers is None:
            return {}
        return {
            channel: rate_limit_queue(task_queue, product, env, f"notification:{notification}", channel)
            for channel in CHANNELS
            if (provider := getattr(providers, channel)) is not None and provider.rate_limit is not None
        }

    def rate_limited_queues(self, task_queue: str) -> dict[str, float]:
        """Every limited target's activity task queue under ``task_queue``, with its calls per second."""
        queues: dict[str, float] = {}
        for product, product_def in self.products.items():
            for tag, notification in product_def.notifications.items():
                for env, providers in notification.envs.items():
                    for channel, queue in self.channel_queues(task_queue, product, env, tag).items():
                        queues[queue] = getattr(providers, channel).rate_limit.rate
            for app, app_def in product_def.apps.items():
                for env in app_def.envs:
                    if app_def.rate_limit is not None:
                        queues[rate_limit_queue(task_queue, product, env, app)] = app_def.rate_limit.rate
                    for action, action_def in app_def.actions.items():
                        if action_def.rate_limit is not None:
                            queue = rate_limit_queue(task_queue, product, env, app, action)
                            queues[queue] = action_def.rate_limit.rate
        return queues

    def action(self, product: str, env: str, app: str, event: str) -> tuple[AppEnv, ActionDef]:
        """The app's settings in ``env`` and the action definition.

        Raises:
            ConfigError: naming the first missing piece (product, env, app, app env, action).
        """
        prod = self.product(product)
        if env not in prod.envs:
            raise ConfigError(f"env {env!r} is not one of product {product!r}'s envs {prod.envs}")
        app_def = prod.apps.get(app)
        if app_def is None:
            raise ConfigError(f"app {app!r} is not in product {product!r} (known: {sorted(prod.apps)})")
        app_env = app_def.envs.get(env)
        if app_env is None:
            raise ConfigError(f"app {app!r} has no settings for env {env!r}")
        action = app_def.actions.get(event)
        if action is None:
            raise ConfigError(f"action {event!r} is not defined on app {app!r} (known: {sorted(app_def.actions)})")
        return app_env, action

    def find_action_app(self, product: str, event: str) -> str | None:
        """The only app of ``product`` that defines action ``event``, if exactly one does."""
        apps = [name for name, app in self.product(product).apps.items() if event in app.actions]
        return apps[0] if len(apps) == 1 else None

    def session(self, product: str, tag: str) -> SessionDef:
        """Raises: ConfigError if the session type is not declared."""
        prod = self.product(product)
        found = prod.sessions.get(tag)
        if found is None:
            raise ConfigError(f"session type {tag!r} is not declared in product {product!r}")
        return found


def parse_product_config(data: object, source: str = "product config") -> ProductConfig:
    """Validate an already parsed document.

    Raises:
        ConfigError: one line per problem, each naming its key path.
    """
    if data is None:
        data = {}
    try:
        return ProductConfig.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors(include_url=False):
            path = ".".join(str(p) for p in e["loc"])
            msg = "is required" if e["type"] == "missing" else str(e["msg"]).removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = "is not a known key"
            lines.append(f"{path}: {msg}" if path else msg)
        raise ConfigError(f"{source}: " + "; ".join(lines)) from None


def load_product_config(path: str | Path, *, replace: Mapping[str, str] | None = None) -> ProductConfig:
    """Read and validate a YAML product config file.

    ``replace``: text substituted in the file before it is parsed (each key by its value, in order),
    e.g. ``{"https://api.example.com": target.url}`` to point a real config at a test's local target.

    Raises:
        ConfigError: the file is missing, is not YAML, or does not match the schema.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read product config {file}: {err.strerror}") from None
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{file} is not valid YAML: {err}") from None
    return parse_product_config(data, str(file))
