"""Signed-in staff sessions in the web layer: the session cookie, Flask-Login on top.

The sign-in cookie carries only a random session id (256 bits); the `staff_sessions` row
(see `auth.server_sessions`) holds the user, the time-outs and the revocation, so signing
out, an idle or absolute time-out, or deactivating the user ends it on the very next
request. Every request resolves the cookie before anything else (`load_staff_session`),
and Flask-Login's loaders only hand back the user of that live server session.

The cookie is `__Host-sendwell` (Secure, HttpOnly, SameSite=Lax, Path=/, no Domain) when
BASE_URL is https. Browsers refuse `Secure` cookies - and therefore every `__Host-` cookie -
over plain http, so in local development (http://localhost) it is `sendwell`, HttpOnly
and SameSite=Lax without Secure. Flask's own signed cookie still exists for anonymous,
non-authorising state (the CSRF token, a pending ceremony's challenge id, flash messages);
on its own it grants nothing, and it is cleared at sign-in and sign-out.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request, session
from flask_login import LoginManager, login_user, logout_user

from auth import server_sessions
from auth.models import StaffSession, User
from core.db import get_session

login_manager = LoginManager()
login_manager.login_view = "auth.login_page"
login_manager.login_message = "Please sign in with your passkey."
# The server session is the binding; Flask-Login's cookie heuristics would only add noise.
login_manager.session_protection = None

SECURE_COOKIE = "__Host-sendwell"
DEV_COOKIE = "sendwell"


def cookie_name(app: Flask | None = None) -> str:
    """`__Host-sendwell` on https, `sendwell` on plain-http development."""
    config = (app or current_app).config
    return SECURE_COOKIE if _is_https(config) else DEV_COOKIE


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user of this request's live server session, if it is `user_id`."""
    user = g.get("staff_user")
    return user if user is not None and user.id == user_id else None


@login_manager.request_loader
def load_user_from_request(_request) -> User | None:
    return g.get("staff_user")


def current_staff_session() -> StaffSession | None:
    """The server-side session of this request (None when signed out)."""
    return g.get("staff_session")


def load_staff_session() -> None:
    """Resolve the session cookie to a live server session (first thing in every request)."""
    g.staff_session = g.staff_user = None
    g.pop("staff_cookie_token", None)
    g.pop("staff_cookie_clear", None)  # Flask-Login's per-request cache; never trust an older one
    token = request.cookies.get(cookie_name())
    if not token or request.endpoint == "static":
        return
    db = get_session()
    found = server_sessions.find_session(db, token, _limits())
    if found is None:
        g.staff_cookie_clear = True
    else:
        g.staff_session, g.staff_user = found
        server_sessions.touch(db, g.staff_session)
    db.commit()


def start_session(user: User, stepped_up: bool = False) -> None:
    """Sign `user` in on a brand-new server session (rotation: nothing carries over).

    `stepped_up` marks a session opened by a passkey ceremony, which counts as a fresh
    assertion for `auth.stepup`. Commits the new session row.
    """
    db = get_session()
    previous = current_staff_session()
    if previous is not None:
        server_sessions.revoke(db, previous, "replaced")
    token, row = server_sessions.create_session(
        db, user, request.headers.get("User-Agent", ""), request.remote_addr, stepped_up
    )
    db.commit()
    session.clear()
    login_user(user)
    g.staff_session, g.staff_user, g.staff_cookie_token = row, user, token


def end_session(reason: str = "signed_out") -> None:
    """Revoke this request's server session and forget both cookies."""
    row = current_staff_session()
    if row is not None:
        db = get_session()
        server_sessions.revoke(db, row, reason)
        db.commit()
    logout_user()
    session.clear()
    g.staff_session = g.staff_user = None
    g.staff_cookie_clear = True


def replace_cookie_token(token: str) -> None:
    """Send a rotated session token to the browser with this response."""
    g.staff_cookie_token = token


def write_session_cookie(response: Response) -> Response:
    """Set or delete the session cookie as this request decided."""
    token = g.pop("staff_cookie_token", None)
    clear = g.pop("staff_cookie_clear", False)
    secure = _is_https(current_app.config)
    if token is not None:
        response.set_cookie(
            cookie_name(), token, secure=secure, httponly=True, samesite="Lax", path="/"
        )
    elif clear:
        response.delete_cookie(
            cookie_name(), secure=secure, httponly=True, samesite="Lax", path="/"
        )
    return response


def init_app(app: Flask) -> None:
    """Resolve the cookie before every other hook (CSRF included), write it after."""
    login_manager.init_app(app)
    app.before_request_funcs.setdefault(None, []).insert(0, load_staff_session)
    app.after_request(write_session_cookie)


def _limits() -> server_sessions.Limits:
    return server_sessions.Limits.from_config(current_app.config)


def _is_https(config) -> bool:
    return str(config["BASE_URL"]).lower().startswith("https://")
