"""Channels that carry a delivery to a person: log, webhook, SMTP email, GOV.UK Notify.

Each send has its own timeout (the channel's, else the config's ``channel_timeout``) and
reports whether a failure is worth retrying: timeouts, connection errors and 5xx are;
a refused address or a 4xx is not, because sending it again cannot succeed. Every message
carries its delivery id so receivers can drop the duplicates at-least-once delivery allows.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx
from notifications_python_client.errors import HTTPError as NotifyHTTPError
from notifications_python_client.notifications import NotificationsAPIClient

from opel.alerting.records import Delivery
from opel.alerting.routing import (
    Contact,
    EmailChannel,
    LogChannel,
    NotifyChannel,
    RoutingConfig,
    WebhookChannel,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    recoverable: bool = True
    error: str | None = None


def webhook_body(delivery: Delivery, style: str) -> dict[str, Any]:
    """Teams (MessageCard) or Slack (``text``) JSON; both carry the ids for dedup."""
    ids = {
        "delivery_id": delivery.delivery_id,
        "notice_id": delivery.notice_id,
        "alert_ids": list(delivery.alert_ids),
    }
    if style == "teams":
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": delivery.subject,
            "title": delivery.subject,
            "text": delivery.text.replace("\n", "<br>"),
            "opel": ids,
        }
    return {"text": f"*{delivery.subject}*\n{delivery.text}", "opel": ids}


def email_message(delivery: Delivery, sender: str, to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = delivery.subject
    # A fixed Message-ID lets mail systems and people spot a re-sent copy.
    message["Message-ID"] = f"<{delivery.delivery_id}@opel.alerting>"
    message["X-OPEL-Delivery-Id"] = delivery.delivery_id
    message["X-OPEL-Alert-Ids"] = ",".join(delivery.alert_ids)
    message.set_content(delivery.text)
    return message


class Channels:
    """Sends deliveries using the running routing config (swapped on reload)."""

    def __init__(self, routing: RoutingConfig) -> None:
        self.routing = routing
        self._http = httpx.AsyncClient()

    async def close(self) -> None:
        await self._http.aclose()

    def _contact(self, contact_id: str) -> Contact | None:
        for entry in self.routing.roles.values():
            for contact in entry.contacts:
                if contact.id == contact_id:
                    return contact
        return None

    async def send(self, delivery: Delivery) -> SendResult:
        config = self.routing
        channel = config.channels.get(delivery.channel)
        contact = self._contact(delivery.contact)
        if channel is None or contact is None:
            return SendResult(
                False,
                False,
                f"channel {delivery.channel!r} or contact {delivery.contact!r} no longer configured",
            )
        timeout = config.timeout(delivery.channel).total_seconds()
        try:
            return await asyncio.wait_for(self._send(channel, contact, delivery), timeout)
        except TimeoutError:
            return SendResult(False, True, f"timed out after {timeout:g}s")

    async def _send(
        self,
        channel: LogChannel | WebhookChannel | EmailChannel | NotifyChannel,
        contact: Contact,
        delivery: Delivery,
    ) -> SendResult:
        config = self.routing
        address = config.expand(contact.address) if contact.address else None
        if isinstance(channel, LogChannel):
            log.warning(
                "ALERT to %s (%s): %s\n%s", contact.name, delivery.role, delivery.subject, delivery.text
            )
            return SendResult(True)
        if isinstance(channel, WebhookChannel):
            return await self._webhook(config.expand(channel.url), webhook_body(delivery, channel.style))
        if isinstance(channel, EmailChannel):
            assert address is not None  # checked when the config was loaded
            return await self._email(channel, address, delivery)
        assert address is not None
        return await self._notify(channel, address, delivery)

    async def _webhook(self, url: str, body: dict[str, Any]) -> SendResult:
        try:
            response = await self._http.post(url, json=body)
        except httpx.HTTPError as exc:
            return SendResult(False, True, f"webhook: {type(exc).__name__}: {exc}")
        if response.is_success:
            return SendResult(True)
        return SendResult(
            False,
            response.status_code >= 500 or response.status_code == 429,
            f"webhook HTTP {response.status_code}",
        )

    async def _email(self, channel: EmailChannel, to: str, delivery: Delivery) -> SendResult:
        config = self.routing
        sender = config.expand(channel.sender)
        try:
            await aiosmtplib.send(
                email_message(delivery, sender, to),
                hostname=config.expand(channel.host),
                port=int(config.expand(str(channel.port))),
                username=config.expand(channel.username) if channel.username else None,
                password=config.expand(channel.password) if channel.password else None,
                start_tls=channel.starttls,
                timeout=config.timeout(delivery.channel).total_seconds(),
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return SendResult(False, False, f"email refused: {exc}")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return SendResult(False, True, f"email: {type(exc).__name__}: {exc}")
        return SendResult(True)

    async def _notify(self, channel: NotifyChannel, to: str, delivery: Delivery) -> SendResult:
        config = self.routing
        kwargs: dict[str, Any] = {"api_key": config.expand(channel.api_key)}
        if channel.base_url:
            kwargs["base_url"] = config.expand(channel.base_url)

        def call() -> None:
            # The client is synchronous (requests); it runs in a worker thread.
            client = NotificationsAPIClient(**kwargs)  # type: ignore[no-untyped-call]
            if channel.type == "notify_sms":
                client.send_sms_notification(  # type: ignore[no-untyped-call]
                    phone_number=to,
                    template_id=channel.template_id,
                    personalisation={"body": delivery.short},
                    reference=delivery.delivery_id,
                )
            else:
                client.send_email_notification(  # type: ignore[no-untyped-call]
                    email_address=to,
                    template_id=channel.template_id,
                    personalisation={"subject": delivery.subject, "body": delivery.text},
                    reference=delivery.delivery_id,
                )

        try:
            await asyncio.to_thread(call)
        except NotifyHTTPError as exc:
            status = int(getattr(exc, "status_code", 500) or 500)
            return SendResult(False, status >= 500 or status == 429, f"notify HTTP {status}: {exc}")
        except Exception as exc:  # requests' connection errors and the like: worth another try
            return SendResult(False, True, f"notify: {type(exc).__name__}: {exc}")
        return SendResult(True)
