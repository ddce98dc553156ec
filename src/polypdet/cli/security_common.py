"""What the security commands share: settings and the security services as one-line CLI errors, the CLI actor."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING

from polypdet.cli.main import CliError

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

    from polypdet.config import Settings
    from polypdet.security.context import SecurityContext


def load_settings() -> Settings:
    from pydantic import ValidationError

    from polypdet.config import Settings

    try:
        return Settings()
    except ValidationError as error:
        raise CliError("; ".join(_problem(e) for e in error.errors())) from None


def _problem(error: ErrorDetails) -> str:
    """One settings error, named by its environment variable where it belongs to one setting."""
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{str(error['loc'][0]).upper()}: {message}" if error["loc"] else message


def open_context() -> SecurityContext:
    from sqlalchemy.exc import SQLAlchemyError

    from polypdet.security.context import open_security
    from polypdet.security.keys import KeyConfigError

    try:
        return open_security(load_settings())
    except KeyConfigError as error:
        raise CliError(str(error)) from None
    except SQLAlchemyError as error:
        raise CliError(f"cannot open the database: {type(error).__name__}: {str(error).splitlines()[0]}") from None


def cli_actor() -> str:
    """Who ran the command, for the audit trail."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"
