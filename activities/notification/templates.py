"""Rendering a notification: picking the language and filling ``{{var}}`` templates, channel by channel.

Everything here is pure (no I/O) so it runs in the prepare activity and is easy to reason about:
the resulting ``NotificationPlan`` is what each send activity transports, unchanged, on every retry.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.activities.notification.config import MessageDef, NotificationDef, NotificationEnv, Texts
from ductape_jobs.workflows.contracts.notification import (
    CallbackPayload,
    ChannelDelivery,
    INotificationRequest,
    NotificationPlan,
    TemplateText,
)

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)\s*\}\}")


def render(template: str, variables: Mapping[str, Any], field: str, *, escape: bool = False) -> str:
    """Fill every ``{{name}}`` (or ``{{ name }}``, ``{{user.name}}``) of ``template``.

    Strings are inserted as they are, other values as JSON (``true``, ``42``); with ``escape`` the
    values are HTML-escaped (an HTML email body must not take markup from its variables).

    Raises:
        JobFailure: INVALID_INPUT naming ``field`` and the first missing variable.
    """

    def fill(match: re.Match[str]) -> str:
        value = _lookup(variables, match.group(1))
        if value is _MISSING:
            raise JobFailure(
                "INVALID_INPUT", f"{field}: template variable {match.group(1)!r} is missing from the input"
            )
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return html.escape(text) if escape else text

    return _VARIABLE.sub(fill, template)


_MISSING = object()


def _lookup(variables: Mapping[str, Any], path: str) -> Any:
    value: Any = variables
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def languages_for(request: INotificationRequest, notification: NotificationDef, message: MessageDef) -> list[str]:
    """Languages to try, best first: the input's, the message's default, the notification's default."""
    wanted = [request.language, message.default_language, notification.default_language]
    return list(dict.fromkeys(lang for lang in wanted if lang))


def pick(texts: Mapping[str, str], languages: Sequence[str]) -> tuple[str, str] | None:
    """``(language, text)`` of the first language ``texts`` has, else ``None``."""
    for lang in languages:
        if lang in texts:
            return lang, texts[lang]
    return None


def text_for(
    field: str, given: TemplateText | None, stored: Texts, languages: Sequence[str], *, escape: bool = False
) -> tuple[str, str | None]:
    """One text field: ``(text, language)``.

    With a stored template, a dict from the input holds its variables; without one, a dict holds
    literal text per language. A plain string is literal text either way (it overrides the stored
    template, and is not rendered).

    Raises:
        JobFailure: INVALID_INPUT when the field has no text in any of ``languages``, or a variable
            is missing.
    """
    if isinstance(given, str):
        return given, None
    if stored:
        found = pick(stored, languages)
        if found is None:
            raise JobFailure(
                "INVALID_INPUT",
                f"{field}: the stored template has no text in {', '.join(languages)} (has {', '.join(sorted(stored))})",
            )
        lang, template = found
        return render(template, given or {}, field, escape=escape), lang
    if given is None:
        raise JobFailure("INVALID_INPUT", f"{field}: is required (the message stores no template for it)")
    literal = {k: v for k, v in given.items() if isinstance(v, str)}
    found = pick(literal, languages)
    if found is None:
        raise JobFailure(
            "INVALID_INPUT",
            f"{field}: no stored template, so it must be text per language with one of {', '.join(languages)}",
        )
    return found[1], found[0]


def build_plan(
    request: INotificationRequest,
    *,
    tag: str,
    event: str,
    notification: NotificationDef,
    providers: NotificationEnv,
    message: MessageDef,
    env: str,
) -> NotificationPlan:
    """One ``ChannelDelivery`` per channel present in the input, in the order email, push, sms, callback.

    Raises:
        JobFailure: INVALID_INPUT for a channel not configured in ``env``, a missing text or variable.
    """
    languages = languages_for(request, notification, message)
    deliveries: list[ChannelDelivery] = []

    def configured(channel: str) -> None:
        if getattr(providers, channel) is None:
            raise JobFailure(
                "INVALID_INPUT", f"{channel}: notification {tag!r} has no {channel} provider for env {env!r}"
            )

    if request.email is not None:
        configured("email")
        subject, lang = text_for("email.subject", request.email.subject, message.email.subject, languages)
        body_source = message.email.template
        is_html = _looks_html(pick(body_source, languages)) if body_source else False
        body, body_lang = text_for("email.template", request.email.template, body_source, languages, escape=is_html)
        deliveries.append(
            ChannelDelivery(
                channel="email",
                language=body_lang or lang,
                recipients=list(dict.fromkeys(request.email.recipients)),
                subject=subject.replace("\r", " ").replace("\n", " "),  # a header: no line breaks
                body=body,
            )
        )
    if request.push_notification is not None:
        push = request.push_notification
        configured("push")
        title, lang = text_for("push_notification.title", push.title, message.push.title, languages)
        body, body_lang = text_for("push_notification.body", push.body, message.push.body, languages)
        deliveries.append(
            ChannelDelivery(
                channel="push",
                language=body_lang or lang,
                recipients=push.tokens(),
                title=title,
                body=body,
                data={k: v if isinstance(v, str) else json.dumps(v) for k, v in push.data.items()},
            )
        )
    if request.sms is not None:
        configured("sms")
        body, lang = text_for("sms.body", request.sms.body, message.sms.body, languages)
        deliveries.append(
            ChannelDelivery(
                channel="sms", language=lang, recipients=list(dict.fromkeys(request.sms.recipients)), body=body
            )
        )
    if request.callback is not None:
        configured("callback")
        cb = request.callback
        deliveries.append(
            ChannelDelivery(
                channel="callback",
                callback=CallbackPayload(query=cb.query, params=cb.params, body=cb.body, headers=cb.headers),
            )
        )
    return NotificationPlan(
        notification=tag, event=event, language=languages[0], slug=request.slug, deliveries=deliveries
    )


def _looks_html(found: tuple[str, str] | None) -> bool:
    return found is not None and found[1].lstrip().startswith("<")


def is_html(body: str) -> bool:
    """Whether an email body is sent as HTML (it starts with ``<``)."""
    return body.lstrip().startswith("<")
