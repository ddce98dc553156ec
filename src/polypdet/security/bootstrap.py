"""First start: without any admin credential, create one admin API key and show it once (like a notebook token).

The event is audited; the key is stored hashed like every other, so it cannot be shown again — lost, it is
replaced with ``polypdet keys create --role admin`` on the server.
"""

from __future__ import annotations

from dataclasses import dataclass

from polypdet.security.context import SecurityContext
from polypdet.security.roles import Role


@dataclass(frozen=True)
class FirstKey:
    prefix: str
    key: str

    def banner(self) -> str:
        return (
            "\n"
            "  polypdet first start: an admin API key was created. It is shown only this once:\n\n"
            f"      {self.key}\n\n"
            "  Send it as 'X-API-Key: <key>' (or 'Authorization: Bearer <key>').\n"
            "  Create more with 'polypdet keys create --role ROLE --name NAME'; revoke this one with\n"
            f"  'polypdet keys revoke {self.prefix}' once you have others.\n"
        )


def ensure_first_admin_key(context: SecurityContext) -> FirstKey | None:
    """A new admin key when no live admin key and no admin user exist; ``None`` otherwise."""
    if context.api_keys.count_live(Role.ADMIN) or any(
        u.role == Role.ADMIN.value and not u.disabled for u in context.users.list()
    ):
        return None
    record, key = context.api_keys.create("first-start admin", Role.ADMIN)
    context.audit.append("key.created", "system:first-start", target=f"key:{record.prefix}", details={"role": "admin"})
    return FirstKey(record.prefix, key)
