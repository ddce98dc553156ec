"""Refresh sessions: rotation, reuse detection, automatic logoff, maximum age, logout."""

from __future__ import annotations

import pytest
from security_helpers import FakeClock
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from polypdet.security.models import LoginSession, User
from polypdet.security.sessions import SessionError, SessionManager


@pytest.fixture
def sessions(engine: Engine, clock: FakeClock) -> SessionManager:
    with Session(engine) as db, db.begin():
        db.add(User(id="u1", username="alice", role="clinician", password_hash="x"))
    return SessionManager(engine, idle_timeout_s=900, max_age_s=8 * 3600, clock=clock)


def test_refresh_rotates_the_token(sessions: SessionManager, engine: Engine) -> None:
    first = sessions.create("u1")
    assert first.refresh_token and first.refresh_token.startswith(first.session_id + ".")
    second = sessions.refresh(first.refresh_token)
    assert second.session_id == first.session_id and second.refresh_token != first.refresh_token
    with Session(engine) as db:
        stored = db.scalars(select(LoginSession.token_hash)).all()
    secret = second.refresh_token.split(".", 1)[1] if second.refresh_token else ""
    assert secret not in stored[0]


def test_reused_refresh_token_revokes_the_session(sessions: SessionManager) -> None:
    first = sessions.create("u1")
    assert first.refresh_token
    second = sessions.refresh(first.refresh_token)
    with pytest.raises(SessionError) as error:
        sessions.refresh(first.refresh_token)  # a copied token used after the owner refreshed
    assert error.value.reason == "refresh token reuse"
    assert second.refresh_token
    with pytest.raises(SessionError, match="session expired or revoked"):
        sessions.refresh(second.refresh_token)  # the thief's use also ended the owner's session


def test_idle_timeout_logs_off(sessions: SessionManager, clock: FakeClock) -> None:
    active = sessions.create("u1")
    clock.advance(800)
    sessions.touch(active.session_id)
    clock.advance(800)  # 1600 s after start, but only 800 s idle
    sessions.touch(active.session_id)
    clock.advance(901)
    with pytest.raises(SessionError) as error:
        sessions.touch(active.session_id)
    assert error.value.reason == "idle timeout (automatic logoff)"
    clock.advance(-901)  # even back in time: the session stays ended
    with pytest.raises(SessionError, match="session expired or revoked"):
        sessions.touch(active.session_id)


def test_maximum_age(sessions: SessionManager, clock: FakeClock) -> None:
    active = sessions.create("u1")
    for _ in range(40):
        clock.advance(800)
        try:
            sessions.touch(active.session_id)
        except SessionError as error:
            assert error.reason == "expired"
            break
    else:
        pytest.fail("the session outlived its maximum age")
    assert clock.now - FakeClock().now >= sessions.max_age


def test_logout_and_revoke_all(sessions: SessionManager) -> None:
    one, two = sessions.create("u1"), sessions.create("u1")
    assert sessions.revoke(one.session_id)
    assert not sessions.revoke(one.session_id)
    with pytest.raises(SessionError):
        sessions.touch(one.session_id)
    sessions.touch(two.session_id)
    assert sessions.revoke_all("u1") == 1
    with pytest.raises(SessionError):
        sessions.touch(two.session_id)


@pytest.mark.parametrize("token", ["", "nosuchsession.secret", "x" * 200 + ".y", "."])
def test_unknown_tokens(sessions: SessionManager, token: str) -> None:
    with pytest.raises(SessionError):
        sessions.refresh(token)
