"""``polypdet users create|list|disable|enable|enroll-totp``: people who log in with a password and TOTP.

Passwords are read from the terminal (or ``--password-stdin``), never from the command line, where every local
user could read them in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from polypdet.cli.main import CliError

if TYPE_CHECKING:
    from polypdet.security.context import SecurityContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create a user (asks for the password)")
    create.add_argument("username")
    create.add_argument("--role", required=True, help="admin, clinician, auditor or service")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    listing = sub.add_parser("list", help="list users")
    listing.add_argument("--json", action="store_true", help="print JSON")
    for name, text in (("disable", "disable a user and end their sessions"), ("enable", "enable a user again")):
        sub.add_parser(name, help=text).add_argument("username")
    enroll = sub.add_parser("enroll-totp", help="give a user a new TOTP secret (prints the provisioning URI)")
    enroll.add_argument("username")
    enroll.add_argument("--qr", type=Path, default=None, metavar="PNG", help="also write the QR code here")


def run(args: argparse.Namespace) -> int:
    from polypdet.cli.security_common import open_context

    context = open_context()
    try:
        action = {"create": _create, "list": _list, "disable": _disable, "enable": _enable, "enroll-totp": _enroll}
        return action[args.action](context, args)
    finally:
        context.engine.dispose()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password: use --password-stdin")
    password = getpass.getpass("password: ")
    if getpass.getpass("again: ") != password:
        raise CliError("the passwords differ")
    return password


def _create(context: SecurityContext, args: argparse.Namespace) -> int:
    from polypdet.cli.security_common import cli_actor
    from polypdet.security.passwords import WeakPasswordError
    from polypdet.security.roles import parse_role
    from polypdet.security.users import UserExistsError

    try:
        role = parse_role(args.role)
        user = context.users.create(args.username, _read_password(args.password_stdin), role)
    except (WeakPasswordError, UserExistsError, ValueError) as error:
        raise CliError(str(error)) from None
    context.audit.append("user.created", cli_actor(), target=f"user:{user.username}", details={"role": role.value})
    print(f"created {role.value} {user.username}; next: polypdet users enroll-totp {user.username}")
    return 0


def _list(context: SecurityContext, args: argparse.Namespace) -> int:
    rows = [
        {
            "username": u.username,
            "role": u.role,
            "totp": u.totp_enabled,
            "disabled": u.disabled,
            "created_at": u.created_at.isoformat(timespec="seconds"),
        }
        for u in context.users.list()
    ]
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'USERNAME':24} {'ROLE':10} {'TOTP':5} {'STATUS':9} CREATED")
    for row in rows:
        status = "disabled" if row["disabled"] else "active"
        print(
            f"{row['username']:24} {row['role']:10} {'yes' if row['totp'] else 'no':5} {status:9} {row['created_at']}"
        )
    return 0


def _set_disabled(context: SecurityContext, username: str, disabled: bool) -> int:
    from polypdet.cli.security_common import cli_actor
    from polypdet.security.users import UserNotFoundError

    try:
        user = context.users.set_disabled(username, disabled)
    except UserNotFoundError as error:
        raise CliError(str(error)) from None
    ended = context.sessions.revoke_all(user.id, "account disabled") if disabled else 0
    action = "user.disabled" if disabled else "user.enabled"
    context.audit.append(action, cli_actor(), target=f"user:{user.username}", details={"sessions_ended": ended})
    print(f"{'disabled' if disabled else 'enabled'} {user.username}" + (f"; ended {ended} sessions" if ended else ""))
    return 0


def _disable(context: SecurityContext, args: argparse.Namespace) -> int:
    return _set_disabled(context, args.username, True)


def _enable(context: SecurityContext, args: argparse.Namespace) -> int:
    return _set_disabled(context, args.username, False)


def _enroll(context: SecurityContext, args: argparse.Namespace) -> int:
    from polypdet.cli.security_common import cli_actor
    from polypdet.security.keys import write_private
    from polypdet.security.users import UserNotFoundError

    try:
        enrolment = context.users.enroll_totp(args.username)
    except UserNotFoundError as error:
        raise CliError(str(error)) from None
    context.audit.append("user.totp_enrolled", cli_actor(), target=f"user:{args.username}")
    if args.qr:
        args.qr.unlink(missing_ok=True)
        write_private(args.qr, "")  # created 0600 before the secret goes in
        args.qr.write_bytes(enrolment.qr_png())
        print(f"QR code written to {args.qr} (it holds the secret: delete it after scanning)")
    print("add this to the user's authenticator app (shown only now):")
    print(enrolment.provisioning_uri)
    return 0
