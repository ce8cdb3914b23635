"""Step-up: sensitive actions need a fresh passkey assertion in this server session.

Use it on views that export PHI, unmask a patient, or change keys, roles or passkeys:

    from auth.stepup import require_recent_assertion

    @bp.post("/patients/<pid>/unmask")
    @require_recent_assertion()
    def unmask(pid): ...

A passkey sign-in counts as an assertion; otherwise the user confirms on
`/auth/step-up` (options/verify JSON endpoints bound to the current server session).
Without one in the last STEP_UP_WINDOW, pages are redirected there (and come back to a
relative `next`), JSON callers get 401 with `{"error", "step_up_url"}`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

from flask import jsonify, redirect, request, url_for

from auth.permissions import wants_json
from auth.server_sessions import stepped_up_within
from auth.sessions import current_staff_session
from core.errors import SendwellError

STEP_UP_WINDOW = timedelta(minutes=5)
STEP_UP_MESSAGE = "Confirm it is you with your passkey, then try again."


class StepUpRequired(SendwellError):
    status_code = 401

    def __init__(self):
        super().__init__(STEP_UP_MESSAGE)


def has_recent_assertion() -> bool:
    """True when this session made a passkey assertion within STEP_UP_WINDOW."""
    return stepped_up_within(current_staff_session(), STEP_UP_WINDOW)


def check_recent_assertion() -> None:
    """Raise StepUpRequired unless the session stepped up recently (for use inside views)."""
    if not has_recent_assertion():
        raise StepUpRequired()


def require_recent_assertion(view: Callable | None = None):
    """Decorator (`@require_recent_assertion()` or bare) refusing views without a step-up."""
    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def guarded(*args, **kwargs):
            if not has_recent_assertion():
                return _step_up_first()
            return func(*args, **kwargs)
        return guarded
    return decorate(view) if view is not None else decorate


def safe_next(target: str | None) -> str:
    """A same-site relative path to return to, or the dashboard."""
    if not target:
        return url_for("analytics.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("analytics.dashboard")
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return url_for("analytics.dashboard")
    return target


def _step_up_first():
    step_up_url = url_for("auth.step_up_page", next=_return_path())
    if wants_json() or request.is_json:
        return jsonify(error=STEP_UP_MESSAGE, step_up_url=step_up_url), 401
    return redirect(step_up_url)


def _return_path() -> str:
    """Where to come back to: this page for GET, the page the form was on otherwise."""
    if request.method == "GET":
        return safe_next(request.full_path.rstrip("?"))
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc and referrer.netloc != request.host:
        return url_for("analytics.dashboard")
    return safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""))
