"""The ``notifications`` section of a product: where each channel's provider is, and the stored texts.

```yaml
notifications:
  orders:                       # the notification tag (``notification`` of a dispatch)
    default_language: en
    envs:
      prd:
        email: {host: smtp.example.com, port: 587, security: starttls,
                username: mailer, password: $Secret{SMTP_PASSWORD}, from_address: shop@example.com}
        push: {url: https://fcm.googleapis.com/v1/projects/p/messages:send, token: $Secret{FCM_TOKEN}}
        sms: {base_url: https://api.twilio.com, account_sid: AC1, auth_token: $Secret{TWILIO},
              from_number: "+15550100"}
        callback: {url: https://hooks.example.com/orders/:id, secret: $Secret{HOOK_SECRET}}
    messages:
      order_shipped:            # the event tag
        email: {subject: {en: "Hi {{name}}", fr: "Salut {{name}}"}, template: {en: "<p>...</p>"}}
        push: {title: {en: "Shipped"}, body: {en: "Order {{order}} is on its way"}}
        sms: {body: {en: "Order {{order}} shipped"}}
```

Secrets stay written as ``$Secret{NAME}``; the send activity resolves them at use time.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from ductape_jobs.activities.config.flow import RateLimitDef

Texts = dict[str, str]
"""Text per language code (``{en: "Hi {{name}}", fr: "Salut {{name}}"}``); empty = no stored template."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NotificationConfigError(LookupError):
    """A notification, env or message a job names is not (or no longer) configured."""


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) and "$Secret{" not in value:
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


HttpUrl = Annotated[str, Field(min_length=1), AfterValidator(_http_url)]


class EmailEnv(_Strict):
    """An SMTP server."""

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    security: Literal["starttls", "tls", "plain"] = "starttls"
    """``starttls`` upgrades a plain connection (port 587), ``tls`` is TLS from the start (465),
    ``plain`` never encrypts (local relays only)."""
    username: str | None = None
    password: str | None = None
    """Write it as ``$Secret{NAME}``."""
    from_address: str = Field(min_length=3)
    ca_file: str | None = None
    """PEM bundle of the CA that signed the server's certificate, for a private relay; the
    system's CAs otherwise (certificates are always verified)."""
    timeout_ms: int = Field(30_000, ge=1)
    rate_limit: RateLimitDef | None = None
    """Calls per second (or minute) this provider takes from all workers (README "Rate limits per target")."""


class PushEnv(_Strict):
    """An FCM HTTP v1 endpoint (``https://fcm.googleapis.com/v1/projects/<id>/messages:send``)."""

    url: HttpUrl
    token: str = Field(min_length=1)
    """OAuth 2 bearer token; write it as ``$Secret{NAME}``."""
    timeout_ms: int = Field(30_000, ge=1)
    rate_limit: RateLimitDef | None = None
    """Calls per second (or minute) this provider takes from all workers (README "Rate limits per target")."""


class SmsEnv(_Strict):
    """A Twilio-compatible Messages API."""

    base_url: HttpUrl
    """``https://api.twilio.com``; ``/2010-04-01/Accounts/<sid>/Messages.json`` is appended."""
    account_sid: str = Field(min_length=1)
    auth_token: str = Field(min_length=1)
    """Write it as ``$Secret{NAME}``."""
    from_number: str = Field(min_length=1)
    timeout_ms: int = Field(30_000, ge=1)
    rate_limit: RateLimitDef | None = None
    """Calls per second (or minute) this provider takes from all workers (README "Rate limits per target")."""


class CallbackEnv(_Strict):
    """An HTTP endpoint that receives the input's ``callback.body``, signed with ``secret``."""

    url: HttpUrl
    """``:name`` segments are filled from the input's ``callback.params``."""
    secret: str = Field(min_length=1)
    """HMAC-SHA256 key of ``X-Ductape-Signature``; write it as ``$Secret{NAME}``."""
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    timeout_ms: int = Field(30_000, ge=1)
    rate_limit: RateLimitDef | None = None
    """Calls per second (or minute) this provider takes from all workers (README "Rate limits per target")."""

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class NotificationEnv(_Strict):
    """The providers of one environment; a channel absent here cannot be sent in it."""

    email: EmailEnv | None = None
    push: PushEnv | None = None
    sms: SmsEnv | None = None
    callback: CallbackEnv | None = None


class EmailMessage(_Strict):
    subject: Texts = Field(default_factory=dict)
    template: Texts = Field(default_factory=dict)
    """The body per language: HTML when it starts with ``<``, else plain text."""


class PushMessage(_Strict):
    title: Texts = Field(default_factory=dict)
    body: Texts = Field(default_factory=dict)


class SmsMessage(_Strict):
    body: Texts = Field(default_factory=dict)


class MessageDef(_Strict):
    """The stored texts of one event; a field without texts takes literal text from the input."""

    default_language: str | None = None
    """This message's default language, before the notification's ``default_language``."""
    email: EmailMessage = Field(default_factory=EmailMessage)
    push: PushMessage = Field(default_factory=PushMessage)
    sms: SmsMessage = Field(default_factory=SmsMessage)


class NotificationDef(_Strict):
    """One notification tag: its providers per env and its messages per event."""

    envs: dict[str, NotificationEnv] = Field(default_factory=dict)
    default_language: str = Field("en", min_length=1)
    messages: dict[str, MessageDef] = Field(default_factory=dict)
