"""All routers, in the order the dispatcher tries them. Each call builds fresh routers."""

from __future__ import annotations

from aiogram import Router


def make_routers() -> list[Router]:
    # Imported on call: conversations import handlers.keyboards, so a top-level import would be circular.
    from conversations import (
        activity_request,
        activity_results,
        common,
        customer_card,
        flow,
        leader_registration,
        onboarding,
        sale_report,
        station_registration,
        visit_report,
    )
    from handlers import activities, approvals, customers, errors, fallback, gate, language, leaders, menu, today

    return [
        errors.make_router(),
        common.make_router(),      # /cancel, in any state
        flow.make_router(),        # Back / Cancel buttons of every flow
        onboarding.make_router(),  # /start CODE and the contact step, before the gate
        gate.make_router(),        # strangers stop here
        menu.make_router(),
        language.make_router(),
        activities.make_router(),        # /activities, /activity N
        approvals.make_router(),         # decision buttons, comments, evaluation
        activity_request.make_router(),
        activity_results.make_router(),
        leaders.make_router(),
        leader_registration.make_router(),
        station_registration.make_router(),
        sale_report.make_router(),
        customers.make_router(),   # /find, /customer N, and the entry points of the customer and visit flows
        today.make_router(),
        customer_card.make_router(),
        visit_report.make_router(),
        fallback.make_router(),    # last
    ]
