"""The permission matrix of the roles."""

from __future__ import annotations

import pytest

from polypdet.security.roles import Permission, Role, parse_role

P = Permission
MATRIX = {
    Role.ADMIN: set(Permission),
    Role.CLINICIAN: {P.DETECT, P.READ_OWN_RESULTS},
    Role.AUDITOR: {P.READ_AUDIT},
    Role.SERVICE: {P.DETECT, P.READ_OWN_RESULTS},
}


@pytest.mark.parametrize("role", list(Role))
def test_matrix(role: Role) -> None:
    for permission in Permission:
        assert role.can(permission) is (permission in MATRIX[role]), (role, permission)


def test_parse_role() -> None:
    assert parse_role(" Clinician ") is Role.CLINICIAN
    with pytest.raises(ValueError, match="unknown role"):
        parse_role("root")
