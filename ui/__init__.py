"""Shared UI: texts, keyboards, cards, the calendar and the step kit that handlers and conversations use."""
