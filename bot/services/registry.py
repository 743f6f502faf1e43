"""The services a handler can ask for by parameter name, built per update over that update's unit of work."""

from __future__ import annotations

from bot.config import Settings
from bot.services.activities import ActivityService
from bot.services.clock import Clock
from bot.services.customer_reach import CustomerReachService
from bot.services.customers import CustomerService
from bot.services.digest import DigestService
from bot.services.export import ExportService
from bot.services.gate import GateService
from bot.services.my_work import MyWorkService
from bot.services.network import NetworkService
from bot.services.numbers import NumbersService
from bot.services.onboarding import OnboardingService
from bot.services.sales import SaleService
from bot.services.staff_admin import StaffAdminService
from bot.services.visits import VisitService
from storage.uow import UnitOfWork


def build_services(uow: UnitOfWork, clock: Clock, settings: Settings) -> dict[str, object]:
    """One entry per service; the key is the handler parameter name that receives it."""
    return {
        "onboarding": OnboardingService(uow, clock),
        "activities": ActivityService(uow, clock, settings.tz),
        "network": NetworkService(uow, clock, settings.tz),
        "sales": SaleService(uow, clock, settings.tz),
        "customers": CustomerService(uow, clock),
        "visits": VisitService(uow, clock, settings),
        "my_work": MyWorkService(uow, clock, settings),
        "numbers": NumbersService(uow, clock, settings),
        "digests": DigestService(uow, clock, settings),
        "exports": ExportService(uow, clock, settings),
        "gate": GateService(uow, clock),
        "staff_admin": StaffAdminService(uow, clock),
        "reach": CustomerReachService(uow, clock, settings.tz),
    }
