"""Conversation states, in one module so flows can start each other without import cycles."""

from aiogram.fsm.state import State, StatesGroup


class Onboarding(StatesGroup):
    contact = State()  # waiting for the user's own contact card
