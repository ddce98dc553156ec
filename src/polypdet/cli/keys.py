"""``polypdet keys create|list|revoke|rotate-master``: API keys and the master encryption key.

``keys create`` prints the new key as its last line; it is shown this once and stored only as a hash.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polypdet.cli.main import CliError

if TYPE_CHECKING:
    from polypdet.security.context import SecurityContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create an API key and print it (last line)")
    create.add_argument("--role", required=True, help="admin, clinician, auditor or service")
    create.add_argument("--name", required=True, help="what the key is for, e.g. 'pacs-bridge'")
    create.add_argument("--user", default=None, help="act as this user (results are theirs)")
    listing = sub.add_parser("list", help="list API keys by prefix")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.add_argument("--json", action="store_true", help="print JSON")
    revoke = sub.add_parser("revoke", help="revoke an API key by its prefix")
    revoke.add_argument("prefix", help="the prefix shown by 'keys list' (or the whole key)")
    rotate = sub.add_parser("rotate-master", help="make a new master key current and re-wrap every data key")
    rotate.add_argument(
        "--outbox", type=Path, default=None, help="a PACS outbox outside POLYPDET_HOME (as given to 'pacs listen')"
    )


def run(args: argparse.Namespace) -> int:
    from polypdet.cli.security_common import open_context

    context = open_context()
    try:
        return {"create": _create, "list": _list, "revoke": _revoke, "rotate-master": _rotate}[args.action](
            context, args
        )
    finally:
        context.engine.dispose()


def _create(context: SecurityContext, args: argparse.Namespace) -> int:
    from polypdet.cli.security_common import cli_actor
    from polypdet.security.roles import parse_role

    try:
        role = parse_role(args.role)
    except ValueError as error:
        raise CliError(str(error)) from None
    user_id = None
    if args.user:
        user = context.users.by_name(args.user)
        if user is None:
            raise CliError(f"no user {args.user!r}")
        user_id = user.id
    record, key = context.api_keys.create(args.name, role, user_id)
    context.audit.append(
        "key.created", cli_actor(), target=f"key:{record.prefix}", details={"role": role.value, "name": args.name}
    )
    print(f"created {role.value} API key {record.prefix} ({args.name}); it is shown only now:")
    print(key)
    return 0


def _list(context: SecurityContext, args: argparse.Namespace) -> int:
    keys = context.api_keys.list(include_revoked=args.all)
    from polypdet.security.apikeys import key_summary

    rows: list[dict[str, Any]] = [key_summary(k) for k in keys]
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'PREFIX':12} {'ROLE':10} {'CREATED':20} {'LAST USED':20} {'STATUS':8} NAME")
    for row in rows:
        status = "revoked" if row["revoked"] else "active"
        print(
            f"{row['prefix']:12} {row['role']:10} {row['created_at'][:19]:20} "
            f"{(row['last_used_at'] or '-')[:19]:20} {status:8} {row['name']}"
        )
    return 0


def _revoke(context: SecurityContext, args: argparse.Namespace) -> int:
    from polypdet.cli.security_common import cli_actor
    from polypdet.security.apikeys import ApiKeyNotFoundError

    try:
        record = context.api_keys.revoke(args.prefix)
    except ApiKeyNotFoundError as error:
        raise CliError(str(error)) from None
    context.audit.append("key.revoked", cli_actor(), target=f"key:{record.prefix}")
    print(f"revoked API key {record.prefix} ({record.name})")
    return 0


def _rotate(context: SecurityContext, args: argparse.Namespace) -> int:
    from polypdet.cli.security_common import cli_actor
    from polypdet.security.keys import FileKeyring
    from polypdet.security.rotation import file_key_ids, key_ids_in_use, rewrap_all, rewrap_files

    provider = context.provider
    old_ids = [key_id for key_id in provider.key_ids if key_id != provider.current_key_id]
    if isinstance(provider, FileKeyring):
        old_ids = provider.key_ids
        provider.add_current()
    elif not old_ids:
        raise CliError(
            "MASTER_KEY is set in the environment: put the new key in MASTER_KEY and the old one in "
            "MASTER_KEY_PREVIOUS, then run this again to re-wrap every data key"
        )
    home = context.settings.polypdet_home
    moved = rewrap_all(context.engine, context.envelope) | rewrap_files(home, context.envelope, args.outbox)
    still_used = key_ids_in_use(context.engine) | file_key_ids(home, context.envelope, args.outbox)
    still_used -= {provider.current_key_id}
    if still_used:
        raise CliError(f"values still under old keys {sorted(still_used)}: nothing retired")
    if isinstance(provider, FileKeyring):
        provider.retire(old_ids)
    total = sum(moved.values())
    context.audit.append(
        "master_key.rotated",
        cli_actor(),
        target=f"master_key:{provider.current_key_id}",
        details={"rewrapped": total, "retired": old_ids},
    )
    print(f"master key {provider.current_key_id} is current; {total} data keys re-wrapped")
    for column, count in moved.items():
        print(f"  {column}: {count}")
    if not isinstance(provider, FileKeyring):
        print("nothing needs the old keys now: remove MASTER_KEY_PREVIOUS")
    return 0
