"""All routers, in the order the dispatcher tries them. Each call builds fresh routers."""

from __future__ import annotations

from aiogram import Router


def make_routers() -> list[Router]:
    # Imported on call: conversations import handlers.keyboards, so a top-level import would be circular.
    from conversations import common, flow, onboarding
    from handlers import errors, fallback, gate, language, menu

    return [
        errors.make_router(),
        common.make_router(),      # /cancel, in any state
        flow.make_router(),        # Back / Cancel buttons of every flow
        onboarding.make_router(),  # /start CODE and the contact step, before the gate
        gate.make_router(),        # strangers stop here
        menu.make_router(),
        language.make_router(),
        fallback.make_router(),    # last
    ]
