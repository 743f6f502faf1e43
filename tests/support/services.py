"""PostgreSQL and Redis for tests: skipped with the reason on a laptop without them, mandatory in CI."""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require(name: str, address: tuple[str, int]) -> None:
    if _reachable(*address):
        return
    reason = f"{name} is not running on {address[0]}:{address[1]}"
    if os.environ.get("FIELDBOT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (FIELDBOT_REQUIRE_SERVICES=1 makes it mandatory)")
    pytest.skip(reason)
