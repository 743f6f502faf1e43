"""Imports every module that registers message keys, so the dispatcher knows them all before it starts."""

from __future__ import annotations

import importlib

# One entry per pushes/ module with @renderer / @sms_template functions.
MODULES: list[str] = ["pushes.approvals", "pushes.manager_numbers", "pushes.duplicates", "pushes.reach"]


def load() -> None:
    for name in MODULES:
        importlib.import_module(name)
