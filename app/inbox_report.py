"""One line per inbox row for `fieldbot inbox`: what it was, whose, why it failed; phone numbers masked."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.domain.phones import mask_phones_in
from storage.inbox import STATUS_NAMES

PREVIEW_CHARS = 40


def _preview(payload: str | None) -> str:
    if not payload:
        return ""
    update = json.loads(payload)
    kind = next((key for key in update if key != "update_id"), "?")
    body = update.get(kind) or {}
    if not isinstance(body, dict):
        return kind
    content = body.get("text") or body.get("data") or body.get("caption")
    if content is None and "contact" in body:
        content = "contact " + str(body["contact"].get("phone_number", ""))
    text = mask_phones_in(str(content or ""))
    text = text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"
    return f"{kind} {text!r}" if text else kind


def describe(row: dict[str, Any]) -> str:
    received = datetime.fromtimestamp(float(row["received_at"]), UTC).strftime("%Y-%m-%d %H:%M:%S")
    error = mask_phones_in(str(row.get("error") or "")).splitlines()[0:1]
    return (f"#{row['update_id']} {STATUS_NAMES.get(int(row['status']), row['status'])} user {row['chat_key']} "
            f"received {received}Z attempts {row['attempts']} {_preview(row.get('payload'))}"
            + (f" — {error[0]}" if error else ""))
