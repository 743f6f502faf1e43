"""SMS as Chinese providers take it: a registered template code with parameters, under a registered signature.

A push's message key (e.g. `greeting`) maps to the provider's template code in the settings (SMS_TEMPLATES);
the template registered with the provider carries the opt-out line. The text rendered here is a preview for
logs and the operator listing (and the body for gateways that take free text), never what decides the send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# Replies that mean "unsubscribe" on Chinese SMS platforms: TD, T, N and 退订 (unsubscribe).  # i18n-ok
OPT_OUT_REPLIES = frozenset({"TD", "T", "N", "QX", "\u9000\u8ba2"})
# One SMS is 70 characters of Chinese (longer ones are split and billed per 67-character part).
SINGLE_SMS_CHARS = 70
_SPACES = re.compile(r"\s+")


class SmsTemplateMissing(KeyError):
    """No provider template configured for a message key: the row waits and is listed, nothing is sent."""


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    template_code: str
    params: dict[str, str] = field(default_factory=dict)
    signature: str = ""
    text: str = ""

    @property
    def parts(self) -> int:
        length = len(self.text)
        return 1 if length <= SINGLE_SMS_CHARS else -(-length // 67)


def signed(signature: str) -> str:
    """The signature in the brackets providers require: 【brand】."""
    bare = signature.strip().strip("\u3010\u3011[]")
    return f"\u3010{bare}\u3011" if bare else ""


def build_sms(phone: str, key: str, params: Mapping[str, object], templates: Mapping[str, str], signature: str,
              body: str, opt_out_line: str) -> SmsMessage:
    """The provider message for a message key; the preview text is signature + body + opt-out line."""
    try:
        code = templates[key]
    except KeyError:
        raise SmsTemplateMissing(key) from None
    text = signed(signature) + body.strip()
    if opt_out_line and opt_out_line not in text:
        text = f"{text}{opt_out_line}"
    return SmsMessage(phone=phone, template_code=code, params={k: str(v) for k, v in params.items()},
                      signature=signature, text=text)


def is_opt_out(reply: str) -> bool:
    """An inbound SMS asking to stop: TD (and the other usual words), case and spaces ignored."""
    return _SPACES.sub("", reply or "").upper() in OPT_OUT_REPLIES
