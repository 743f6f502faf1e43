"""The SMS seam: one `SmsGateway.send(phone, template_code, params, signature)`, and its apprise implementation.

Chinese providers send a registered template (by code) with parameters under a registered signature (【品牌】),
never free text. The mapping from our template keys to provider codes, the opt-out line and quiet hours are the
scheduling side's (configuration and pushes/ policy); the gateway only delivers. Without a gateway (no SMS_URL)
SMS rows wait with status "no_gateway" and are sent once one is configured, unless they expired.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class SmsError(Exception):
    """A send that failed; `permanent` when retrying can't help (bad number, template refused)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmsGateway(Protocol):
    async def send(self, phone: str, template_code: str, params: Mapping[str, str], signature: str) -> str | None:
        """Delivers one SMS; returns the provider's message id when it gives one. Raises SmsError."""


class AppriseSmsGateway:
    """Any apprise URL (SMS_URL), e.g. json://sms.example.internal/send for the company's SMS platform.

    The body is JSON: {"phone", "template", "params", "signature"} so a webhook can pass it to the provider.
    """

    def __init__(self, url: str) -> None:
        import apprise

        self._apprise = apprise.Apprise()
        if not self._apprise.add(url):
            raise ValueError("SMS_URL is not a URL apprise understands")

    async def send(self, phone: str, template_code: str, params: Mapping[str, str], signature: str) -> str | None:
        body = json.dumps({"phone": phone, "template": template_code, "params": dict(params),
                           "signature": signature}, ensure_ascii=False)
        ok = await asyncio.to_thread(self._apprise.notify, body=body, title=template_code)
        if not ok:
            raise SmsError("the SMS gateway did not accept the message")
        return None


@dataclass
class RecordingSmsGateway:
    """Keeps what it was asked to send: tests, and dry runs of a schedule."""

    sent: list[dict[str, object]] = field(default_factory=list)
    fail_with: SmsError | None = None

    async def send(self, phone: str, template_code: str, params: Mapping[str, str], signature: str) -> str | None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append({"phone": phone, "template": template_code, "params": dict(params),
                          "signature": signature})
        return f"rec-{len(self.sent)}"


def gateway_from_url(url: str | None) -> SmsGateway | None:
    return AppriseSmsGateway(url) if url else None
