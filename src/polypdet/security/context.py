"""``SecurityContext``: the security services of one process, built once from the settings and one engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from polypdet.config import Settings
from polypdet.security.apikeys import ApiKeyStore
from polypdet.security.audit import AuditLog
from polypdet.security.crypto import Envelope
from polypdet.security.keys import LocalKeyProvider, key_provider_from_settings, load_secret
from polypdet.security.models import utc_now
from polypdet.security.sessions import SessionManager
from polypdet.security.tokens import TokenSigner
from polypdet.security.users import UserDirectory


def ensure_tables(engine: Engine) -> None:
    """Bring the database (results and security tables) to the newest migration."""
    from polypdet.store.migrate import upgrade

    upgrade(engine)


@dataclass
class SecurityContext:
    settings: Settings
    engine: Engine
    provider: LocalKeyProvider
    clock: Callable[[], datetime] = utc_now
    envelope: Envelope = field(init=False)
    users: UserDirectory = field(init=False)
    api_keys: ApiKeyStore = field(init=False)
    sessions: SessionManager = field(init=False)
    audit: AuditLog = field(init=False)
    signer: TokenSigner = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.envelope = Envelope(self.provider)
        self.users = UserDirectory(self.engine, self.envelope, s.login_max_failures, s.login_lockout_s, self.clock)
        self.api_keys = ApiKeyStore(self.engine, self.clock)
        self.sessions = SessionManager(self.engine, s.session_idle_timeout_s, s.session_max_age_s, self.clock)
        self.audit = AuditLog(self.engine, self.clock)
        self.signer = TokenSigner(load_secret(s, "jwt_secret"), s.jwt_issuer, s.jwt_audience, s.access_token_ttl_s)

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine, **kwargs: Callable[[], datetime]) -> SecurityContext:
        return cls(settings, engine, key_provider_from_settings(settings), **kwargs)


def open_security(settings: Settings) -> SecurityContext:
    """The security services on the configured database, its tables created where missing."""
    from polypdet.store.engine import make_engine

    engine = make_engine(settings.resolved_database_url)
    ensure_tables(engine)
    return SecurityContext.from_settings(settings, engine)
