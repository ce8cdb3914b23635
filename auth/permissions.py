"""Who may reach which endpoint: one table, enforced before every request.

An endpoint missing from the table is refused (and a test fails), so a new route cannot
ship without declaring its permission.
"""

from __future__ import annotations

from flask import Flask, abort, jsonify, redirect, request, url_for
from flask_login import current_user

from auth.models import Role

PUBLIC = "public"  # tracking pixels, click redirects, unsubscribe, sign-in, static files
SIGNED_IN = "signed_in"  # any active staff user
ALL_STAFF = frozenset(Role)

# endpoint -> PUBLIC, SIGNED_IN, or the set of roles allowed
ROUTE_PERMISSIONS: dict[str, str | frozenset[Role]] = {
    "static": PUBLIC,
    "health.live": PUBLIC,
    "health.ready": PUBLIC,
}


def allow(endpoint: str, rule: str | frozenset[Role]) -> None:
    """Declare an endpoint's permission (called by each package's routes module)."""
    ROUTE_PERMISSIONS[endpoint] = rule


def undeclared_endpoints(app: Flask) -> list[str]:
    """Endpoints of `app` that have no entry in the permission table."""
    return sorted({r.endpoint for r in app.url_map.iter_rules()} - ROUTE_PERMISSIONS.keys())


def check_permission():
    endpoint = request.endpoint
    if endpoint is None:
        return None  # 404s and 405s fall through to Flask's own handling
    rule = ROUTE_PERMISSIONS.get(endpoint)
    if rule is None:
        abort(403)
    if rule == PUBLIC:
        return None
    if not current_user.is_authenticated:
        return _sign_in_first()
    if rule == SIGNED_IN or Role(current_user.role) in rule:
        return None
    abort(403)


def wants_json() -> bool:
    """True when the client asked for JSON (our fetch() calls send `Accept: application/json`)."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _sign_in_first():
    if wants_json():
        return jsonify(error="Please sign in with your passkey."), 401
    return redirect(url_for("auth.login_page"))


def init_app(app: Flask) -> None:
    app.before_request(check_permission)
