"""All routers, in the order the dispatcher tries them. Each call builds fresh routers."""

from __future__ import annotations

from aiogram import Router

from app.state_index import index_by_state
from conversations import (
    activity_request,
    activity_results,
    common,
    customer_card,
    leader_registration,
    onboarding,
    sale_report,
    station_registration,
    visit_report,
)
from handlers import (
    activities,
    approvals,
    commands,
    customer_reach,
    customers,
    errors,
    fallback,
    gate,
    language,
    leaders,
    menu,
    numbers,
    staff_leave,
    today,
)
from ui import flow


def make_routers() -> list[Router]:
    routers = [
        errors.make_router(),
        common.make_router(),      # /cancel, in any state
        flow.make_router(),        # Back / Cancel buttons of every flow
        customer_reach.make_router(),  # customers' links and commands: before onboarding and the gate
        onboarding.make_router(),  # /start CODE and the contact step, before the gate
        gate.make_router(),        # strangers stop here
        menu.make_router(),
        staff_leave.make_router(),       # /team's "someone is leaving"
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
        numbers.make_router(),     # /targets, /coverage, /digest, /export
        customer_card.make_router(),
        visit_report.make_router(),
        fallback.make_router(),    # last
    ]
    # Staff only (after the gate), in any state: a command nobody registered is said so, and the step re-asked.
    gate_at = next(i for i, router in enumerate(routers) if router.name == "gate")
    routers.insert(gate_at + 1, commands.make_router(commands.registered_commands(routers)))
    index_by_state(routers)  # a step's message tries only the handlers of that step and the stateless ones
    return routers
