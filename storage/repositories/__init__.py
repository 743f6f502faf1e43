"""Repositories, one module per feature area. They never commit; the unit of work does."""

from storage.repositories.org import (
    AttemptRepository,
    AuditRepository,
    InviteRepository,
    OrgRepository,
    StaffRepository,
)

__all__ = ["AttemptRepository", "AuditRepository", "InviteRepository", "OrgRepository", "StaffRepository"]
