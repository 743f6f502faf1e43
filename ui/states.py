"""Conversation states, in one module so flows can start each other without import cycles."""

from aiogram.fsm.state import State, StatesGroup


class Onboarding(StatesGroup):
    contact = State()  # waiting for the user's own contact card


class CustomerLinking(StatesGroup):
    contact = State()  # a customer opened their link: waiting for their own contact card


class CustomerCard(StatesGroup):
    """Creating or editing a customer archive record (conversations/customer_card.py)."""

    name = State()
    phone = State()
    duplicate = State()  # the phone is already on file at this dealer: use that record or enter another
    nature = State()
    level = State()
    sales_mode = State()
    vehicle_type = State()
    industry = State()
    source = State()
    fleet_size = State()
    province = State()
    city = State()
    stage = State()
    confirm = State()
    edit_field = State()


class VisitReport(StatesGroup):
    """Reporting a customer visit (conversations/visit_report.py)."""

    customer = State()
    kind = State()
    outcome = State()
    stage = State()
    notes = State()
    follow_up = State()
    location = State()
    photo = State()
    confirm = State()


class LeaderRegistration(StatesGroup):
    """Registering a user opinion leader (conversations/leader_registration.py)."""

    name = State()
    phone = State()
    province = State()
    city = State()
    vehicles = State()
    fleet_size = State()
    confirm = State()


class StationRegistration(StatesGroup):
    """Registering an information station (conversations/station_registration.py)."""

    name = State()
    kind = State()
    contact_name = State()
    phone = State()
    city = State()
    location = State()
    confirm = State()


class SaleReport(StatesGroup):
    """Reporting a sale with its delivery ceremony (conversations/sale_report.py)."""

    customer = State()
    product_line = State()
    series = State()
    trucks = State()
    referral = State()
    sold_on = State()
    confirm = State()


class ActivityRequest(StatesGroup):
    """Requesting a marketing activity, or editing one sent back (conversations/activity_request.py)."""

    activity_type = State()
    product_line = State()
    series = State()
    starts_at = State()
    city = State()
    address = State()
    natures = State()
    attendance = State()
    budget = State()
    description = State()
    confirm = State()


class ActivityResults(StatesGroup):
    """Reporting what an approved activity achieved (conversations/activity_results.py)."""

    attendance = State()
    leads = State()
    lead_phones = State()
    orders = State()
    expenses = State()
    receipts = State()
    confirm = State()


class ApprovalComment(StatesGroup):
    """An approver's comment for a rejection or send-back, and a reviewer's evaluation (handlers/approvals.py)."""

    decision = State()
    evaluation = State()


class CustomerSearch(StatesGroup):
    text = State()  # menu "Find customer": waiting for part of a name or phone number
