"""The services a handler can ask for by parameter name, built per update over that update's unit of work."""

from __future__ import annotations

from bot.config import Settings
from bot.services.clock import Clock
from bot.services.onboarding import OnboardingService
from storage.uow import UnitOfWork


def build_services(uow: UnitOfWork, clock: Clock, settings: Settings) -> dict[str, object]:
    """One entry per service; the key is the handler parameter name that receives it."""
    return {
        "onboarding": OnboardingService(uow, clock),
    }
