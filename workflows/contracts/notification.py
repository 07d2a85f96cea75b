"""Data contracts of the ``notification`` event type: its input, its plan and its per-channel reports.

A notification job runs two kinds of activities: ``ductape.prepare_notification`` turns the job's
input (``INotificationRequest``) into a ``NotificationPlan`` with one fully rendered
``ChannelDelivery`` per channel, then the workflow runs one ``ductape.send_notification`` per
delivery in parallel, each retried on its own, so a failing SMS never re-sends the email.

Only pydantic and the shared ``ductape_jobs.workflows.contracts.job`` are imported: this module is passed through
the workflow sandbox. No secret ever appears in these models (they are recorded in history):
credentials stay in the product config and are resolved inside the send activity.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ductape_jobs.workflows.contracts.job import JobContext, absent_when_empty

Channel = Literal["email", "push", "sms", "callback"]
"""The channels a notification can go out on."""

CHANNELS: tuple[Channel, ...] = ("email", "push", "sms", "callback")

TemplateText = str | dict[str, Any]
"""A text field of the input: a plain string, the variables of the stored template
(``{"name": "Ada"}``), or, when the config stores no template for the field, literal text per
language (``{"en": "Order shipped", "fr": "Commande expédiée"}``)."""

# --------------------------------------------------------------------------------------------
# Input (user-facing, strict)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, value: object) -> object:
        return absent_when_empty(cls, value)  # `email: {}` is no email (seed 001)


class IPushInput(_Input):
    """``push_notification``: sent to every device token, one FCM message each."""

    title: TemplateText | None = None
    """Absent: the stored template without variables."""
    body: TemplateText | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    """Extra key/values for the app; FCM wants strings, so other values are sent as JSON text."""
    device_token: str | None = Field(None, min_length=1)
    device_tokens: list[str] = Field(default_factory=list)

    @field_validator("device_tokens")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not token.strip() for token in value):
            raise ValueError("must not contain empty tokens")
        return value

    @model_validator(mode="after")
    def _some_device(self) -> IPushInput:
        if self.device_token is None and not self.device_tokens:
            raise ValueError("needs `device_token` or `device_tokens`")
        return self

    def tokens(self) -> list[str]:
        """Every device token, in order, without duplicates."""
        given = ([self.device_token] if self.device_token else []) + self.device_tokens
        return list(dict.fromkeys(given))


class IEmailInput(_Input):
    """``email``: one message to all ``recipients``."""

    recipients: list[str] = Field(min_length=1)
    subject: TemplateText | None = None
    template: TemplateText | None = None
    """The body (HTML when it starts with ``<``, else plain text)."""


class ISmsInput(_Input):
    """``sms``: one message per recipient (E.164 numbers, ``+31612345678``)."""

    recipients: list[str] = Field(min_length=1)
    body: TemplateText | None = None


class ICallbackInput(_Input):
    """``callback``: an HTTP request to the env's callback URL, signed with its secret."""

    query: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    """Fill ``:name`` segments of the configured URL."""
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)


class INotificationRequest(_Input):
    """Ductape's notification input; only the channels present are sent."""

    slug: str | None = None
    """Informational (kept in the plan)."""
    language: str | None = None
    """Language of the texts; default: the notification's ``default_language``."""
    push_notification: IPushInput | None = None
    email: IEmailInput | None = None
    sms: ISmsInput | None = None
    callback: ICallbackInput | None = None

    @model_validator(mode="after")
    def _some_channel(self) -> INotificationRequest:
        if not any((self.push_notification, self.email, self.sms, self.callback is not None)):
            raise ValueError("needs at least one of `email`, `push_notification`, `sms`, `callback`")
        return self


# --------------------------------------------------------------------------------------------
# Crossing Temporal


class CallbackPayload(BaseModel):
    """The callback request's parts, as given in the input."""

    query: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)


class ChannelDelivery(BaseModel):
    """One channel's message, fully rendered: the send activity only transports it."""

    channel: Channel
    language: str | None = None
    """Language the texts were rendered in (``None`` for a callback)."""
    recipients: list[str] = Field(default_factory=list)
    """Email addresses, device tokens or phone numbers; empty for a callback."""
    subject: str | None = None
    """Email subject."""
    title: str | None = None
    """Push title."""
    body: str | None = None
    """Email body, push body or SMS text."""
    data: dict[str, str] = Field(default_factory=dict)
    """Push data."""
    callback: CallbackPayload | None = None


class NotificationPlan(BaseModel):
    """Output of ``ductape.prepare_notification``: what to send, channel by channel."""

    notification: str
    """The notification tag."""
    event: str
    """The message (event tag) that was rendered."""
    language: str
    """Language asked for (input ``language`` or the default); a field may fall back to the default."""
    slug: str | None = None
    deliveries: list[ChannelDelivery]
    """One per channel present in the input, in the order email, push, sms, callback."""


class ChannelSendInput(BaseModel):
    """Input of ``ductape.send_notification``."""

    job: JobContext
    delivery: ChannelDelivery


class ChannelReport(BaseModel):
    """Output of ``ductape.send_notification`` (``success=False`` is built by the workflow when the
    activity failed for good)."""

    channel: Channel
    success: bool
    message_id: str | None = None
    """The provider's ID: email Message-ID, FCM message ``name``, Twilio ``sid`` (the first one
    when several recipients got one request each)."""
    error: str | None = None
    message_ids: list[str] = Field(default_factory=list)
    """Every provider ID, one per request (SMS per recipient, push per device)."""


class NotificationResult(BaseModel):
    """The notification job's result."""

    channels: dict[str, ChannelReport]
