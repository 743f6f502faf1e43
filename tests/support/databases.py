"""Throwaway PostgreSQL databases for tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.support.services import POSTGRES, require

ADMIN_DSN = f"postgresql://postgres@{POSTGRES[0]}:{POSTGRES[1]}/postgres"


@asynccontextmanager
async def fresh_postgres() -> AsyncIterator[str]:
    """A new empty database; yields its SQLAlchemy URL and drops it afterwards."""
    require("PostgreSQL", POSTGRES)
    import asyncpg

    name = f"fieldbot_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql+asyncpg://postgres@{POSTGRES[0]}:{POSTGRES[1]}/{name}"
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
