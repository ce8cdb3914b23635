"""Signed-in staff sessions: Flask-Login wiring, rotation at sign-in, idle and absolute limits.

The session cookie is cleared before a user is signed in (no session fixation) and
carries only Flask-Login's user id and two timestamps; a session idle longer than
SESSION_IDLE_MINUTES or older than SESSION_ABSOLUTE_HOURS is ended.
"""

from __future__ import annotations

from flask import current_app, session
from flask_login import LoginManager, login_user, logout_user

from auth.models import User
from auth.service import get_user
from core.clock import utcnow
from core.db import get_session

login_manager = LoginManager()
login_manager.login_view = "auth.login_page"
login_manager.login_message = "Please sign in with your passkey."
login_manager.session_protection = "strong"

SIGNED_IN_AT = "auth_signed_in_at"
SEEN_AT = "auth_seen_at"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The signed-in user, unless the account is disabled or the session timed out."""
    if _timed_out():
        session.clear()
        return None
    user = get_user(get_session(), user_id)
    if user is None or not user.active:
        return None
    session[SEEN_AT] = _now()
    return user


def start_session(user: User) -> None:
    """Rotate the session and sign `user` in."""
    session.clear()
    login_user(user)
    session[SIGNED_IN_AT] = session[SEEN_AT] = _now()


def end_session() -> None:
    logout_user()
    session.clear()


def _timed_out() -> bool:
    now = _now()
    signed_in, seen = session.get(SIGNED_IN_AT), session.get(SEEN_AT)
    if signed_in is None or seen is None:
        return True
    idle = current_app.config["SESSION_IDLE_MINUTES"] * 60
    absolute = current_app.config["SESSION_ABSOLUTE_HOURS"] * 3600
    return now - seen > idle or now - signed_in > absolute


def _now() -> float:
    return utcnow().timestamp()
