"""The notification activities: ``prepare_notification`` renders, ``send_notification`` sends one channel.

The workflow runs prepare once, then one send per channel in parallel, each with the job's retry
policy: a failing SMS provider retries the SMS alone and never re-sends the email.
"""

from __future__ import annotations

import httpx
from pydantic import ValidationError
from temporalio import activity

from ductape_jobs.activities.config.product_config import ConfigError, ProductConfig
from ductape_jobs.activities.config.secrets import (
    SecretMissingError,
    SecretNotDeclaredError,
    SecretStore,
    check_declared,
)
from ductape_jobs.activities.errors import JobFailure
from ductape_jobs.activities.http.target_pauses import limited_target
from ductape_jobs.activities.notification.channels import Sent, send_callback, send_email, send_push, send_sms
from ductape_jobs.activities.notification.checks import notification_env
from ductape_jobs.activities.notification.config import NotificationConfigError, NotificationEnv
from ductape_jobs.activities.notification.templates import build_plan
from ductape_jobs.workflows.contracts.job import EventActivityInput, JobContext, JobInputError
from ductape_jobs.workflows.contracts.notification import (
    ChannelReport,
    ChannelSendInput,
    INotificationRequest,
    NotificationPlan,
)
from ductape_jobs.workflows.names import PREPARE_NOTIFICATION, SEND_NOTIFICATION


class NotificationActivities:
    """Notifications over one shared ``httpx.AsyncClient`` (push, SMS and callbacks pool connections)."""

    def __init__(self, config: ProductConfig, secrets: SecretStore, http: httpx.AsyncClient) -> None:
        self._config = config
        self._secrets = secrets
        self._http = http

    @activity.defn(name=PREPARE_NOTIFICATION)
    async def prepare_notification(self, request: EventActivityInput) -> NotificationPlan:
        """Validate the input and render one delivery per channel it names.

        Raises:
            ApplicationError: INVALID_INPUT (bad shape, channel not configured for the env, missing
                text or template variable) or CONFIG_ERROR; neither is retried.
        """
        try:
            return self._prepare(request)
        except JobFailure as err:
            raise err.to_application_error(request.job.errors) from None

    def _prepare(self, request: EventActivityInput) -> NotificationPlan:
        job = request.job
        try:
            parsed = INotificationRequest.model_validate(request.input)
        except ValidationError as err:
            raise JobFailure("INVALID_INPUT", f"notification input: {JobInputError.from_validation(err)}") from None
        tag = self._tag(job)
        try:
            product = self._config.product(job.product)
            notification, providers, message = notification_env(product, tag, job.env, job.event)
        except (ConfigError, NotificationConfigError) as err:
            raise JobFailure("CONFIG_ERROR", str(err)) from None
        try:
            # Refused before any channel sends: the callback's headers would resolve the reference.
            check_declared(request.input, product=job.product, declared=product.secrets)
        except SecretNotDeclaredError as err:
            raise JobFailure("SECRET_NOT_DECLARED", str(err)) from None
        plan = build_plan(
            parsed,
            tag=tag,
            event=job.event,
            notification=notification,
            providers=providers,
            message=message,
            env=job.env,
        )
        activity.logger.info(
            "notification %s/%s for job %s: %s",
            tag,
            job.event,
            job.job_id,
            ", ".join(d.channel for d in plan.deliveries),
        )
        return plan

    @activity.defn(name=SEND_NOTIFICATION)
    async def send_notification(self, request: ChannelSendInput) -> ChannelReport:
        """Send one channel's rendered delivery.

        ``success`` is True once at least one recipient got the message; ``error`` then lists the
        recipients the provider refused for good (e.g. a stale device token).

        Raises:
            ApplicationError: typed by cause (see ``ductape_jobs.activities.notification.channels``); connection
                errors, timeouts, 5xx and SMTP 4xx are retried, the rest is not.
        """
        limited_target(request.job.product, request.job.env)  # a limited provider's wait ends (its metric)
        try:
            sent = await self._send(request)
        except JobFailure as err:
            raise err.to_application_error(request.job.errors) from None
        return ChannelReport(
            channel=request.delivery.channel,
            success=True,
            message_id=sent.message_ids[0] if sent.message_ids else None,
            message_ids=sent.message_ids,
            error=f"{len(sent.refused)} refused: {'; '.join(sent.refused)}" if sent.refused else None,
        )

    async def _send(self, request: ChannelSendInput) -> Sent:
        job, delivery = request.job, request.delivery
        providers = self._providers(job)
        activity.logger.info("sending %s notification for job %s", delivery.channel, job.job_id)
        try:
            if delivery.channel == "email" and providers.email is not None:
                email = providers.email
                password = self._secrets.resolve(email.password) if email.password else None
                return await send_email(email, password, delivery)
            if delivery.channel == "push" and providers.push is not None:
                token = self._secrets.resolve(providers.push.token)
                return await send_push(providers.push, token, delivery, self._http, job.errors)
            if delivery.channel == "sms" and providers.sms is not None:
                auth_token = self._secrets.resolve(providers.sms.auth_token)
                return await send_sms(providers.sms, auth_token, delivery, self._http, job.errors)
            if delivery.channel == "callback" and providers.callback is not None:
                callback = providers.callback
                secret, url = self._secrets.resolve(callback.secret), self._secrets.resolve(callback.url)
                if delivery.callback is not None:
                    headers = self._secrets.resolve_input(
                        delivery.callback.headers,
                        product=job.product,
                        declared=self._declared(job),
                        field="input.callback.headers",
                    )
                    delivery = delivery.model_copy(
                        update={"callback": delivery.callback.model_copy(update={"headers": headers})}
                    )
                return await send_callback(callback, secret, url, delivery, self._http)
        except SecretNotDeclaredError as err:
            raise JobFailure("SECRET_NOT_DECLARED", str(err)) from None
        except SecretMissingError as err:
            raise JobFailure("SECRET_MISSING", str(err)) from None
        raise JobFailure("CONFIG_ERROR", f"{delivery.channel}: no longer configured for env {job.env!r}")

    def _declared(self, job: JobContext) -> list[str]:
        try:
            return self._config.product(job.product).secrets
        except ConfigError as err:
            raise JobFailure("CONFIG_ERROR", str(err)) from None

    def _providers(self, job: JobContext) -> NotificationEnv:
        try:
            _, providers, _ = notification_env(self._config.product(job.product), self._tag(job), job.env, job.event)
        except (ConfigError, NotificationConfigError) as err:
            raise JobFailure("CONFIG_ERROR", str(err)) from None
        return providers

    def _tag(self, job: JobContext) -> str:
        if job.app is None:
            raise JobFailure("CONFIG_ERROR", f"notification job {job.job_id!r} names no notification")
        return job.app
