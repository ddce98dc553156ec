"""Roles and their explicit permissions (least privilege: an auditor reads the trail, not patient results).

>>> Role.CLINICIAN.can(Permission.READ_ALL_RESULTS)
False
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    DETECT = "detect"
    READ_OWN_RESULTS = "results:read:own"
    READ_ALL_RESULTS = "results:read:all"
    MANAGE_USERS_AND_KEYS = "admin:manage"
    READ_AUDIT = "audit:read"


class Role(StrEnum):
    ADMIN = "admin"
    CLINICIAN = "clinician"
    AUDITOR = "auditor"
    SERVICE = "service"

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self]

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self]


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.CLINICIAN: frozenset({Permission.DETECT, Permission.READ_OWN_RESULTS}),
    Role.AUDITOR: frozenset({Permission.READ_AUDIT}),
    # Machine callers (PACS bridge, scripts): detect and read back what they sent.
    Role.SERVICE: frozenset({Permission.DETECT, Permission.READ_OWN_RESULTS}),
}


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise ValueError(f"unknown role {text!r} (choose from {', '.join(Role)})") from None
