"""Phone numbers: normalised to E.164 with China as the default region, and masked for logs."""

from __future__ import annotations

import re

import phonenumbers

from bot.domain.errors import DomainError

DEFAULT_REGION = "CN"


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """E.164 form of a phone number; raises DomainError('bad_phone') when it is not a valid number."""
    text = (raw or "").strip()
    # Telegram sends contacts without '+' (e.g. "8613800138000"): try it as international first.
    candidates = [text]
    if text and text[0].isdigit() and len(re.sub(r"\D", "", text)) > 11:
        candidates.insert(0, "+" + text)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise DomainError("bad_phone")


def mask_phone(phone: str | None) -> str:
    """Keeps the country code, the first three and last four digits: +86138****8000."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if len(digits) <= 6:
        return "*" * len(digits)
    plus = "+" if phone.strip().startswith("+") else ""
    with_country_code = digits.startswith("86") and (bool(plus) or len(digits) == 13)
    head = digits[:5] if with_country_code else digits[:3]
    return f"{plus}{head}{'*' * (len(digits) - len(head) - 4)}{digits[-4:]}"


_PHONE_LIKE = re.compile(r"\+?\d[\d \-]{8,}\d")


def mask_phones_in(text: str) -> str:
    """Masks every phone-like digit run in free text (log lines, digests)."""
    return _PHONE_LIKE.sub(lambda match: mask_phone(match.group(0)), text)


def mask_name(name: str | None) -> str:
    """Keeps a name's first character: "W**" for "Wang Jun" (pushed summaries name people without giving them away)."""
    name = (name or "").strip()
    return (name[:1] + "*" * min(2, max(1, len(name) - 1))) if name else ""
