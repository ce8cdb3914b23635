"""Public tracking endpoints: open pixel, click redirect, RFC 8058 one-click unsubscribe.

URLs carry only an opaque random token. Unknown or malformed tokens change nothing: the
pixel still answers the same GIF, a click answers 404 without a Location, an unsubscribe
link answers a 404 page. GET and HEAD never change consent; only POST unsubscribes, and
it needs no cookie or CSRF token (mail providers post it without a session).
Routes take the whole rest of the path and never merge slashes, so no probe under these
prefixes is answered with a redirect of Werkzeug's own.
"""

from __future__ import annotations

import base64

from flask import Blueprint, Response, redirect, render_template, request

from analytics import classify, engagement
from auth.permissions import PUBLIC, allow
from core import audit
from core.clock import utcnow
from core.db import get_session
from core.web import csrf

bp = Blueprint("tracking", __name__)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, private, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}


def _ua_class() -> str:
    return classify.user_agent_class(request.headers.get("User-Agent"), request.method)


@bp.get("/t/o/<path:token>.gif", merge_slashes=False)
def open_pixel(token: str):
    """The same 1x1 GIF for every token; an open is recorded for a known one."""
    session = get_session()
    message = engagement.message_for_open(session, token)
    if message is not None:
        engagement.record_open(session, message, _ua_class(), utcnow())
        session.commit()
    return Response(PIXEL, mimetype="image/gif", headers=NO_STORE)


@bp.get("/t/c/<path:token>", merge_slashes=False)
def click(token: str):
    """302 to the link's registered destination; query parameters are ignored."""
    session = get_session()
    link = engagement.link_for_click(session, token)
    target = engagement.destination(link) if link is not None else None
    if target is None:
        return _not_found()
    engagement.record_click(session, link, _ua_class(), utcnow())
    session.commit()
    response = redirect(target, code=302)
    response.headers.update(NO_STORE)
    return response


@bp.get("/u/<path:token>", merge_slashes=False)
def unsubscribe_page(token: str):
    """Confirmation page only (GET/HEAD): link scanners must not unsubscribe anyone."""
    session = get_session()
    message = engagement.message_for_unsubscribe(session, token)
    if message is None:
        return _not_found()
    done = engagement.already_unsubscribed(session, message)
    return render_template("analytics/unsubscribe.html", token=token, done=done)


@bp.post("/u/<path:token>", merge_slashes=False)
@csrf.exempt
def unsubscribe(token: str):
    """RFC 8058 one-click: any body, no cookie or CSRF token, idempotent."""
    session = get_session()
    message = engagement.message_for_unsubscribe(session, token)
    if message is None:
        return _not_found()
    if engagement.unsubscribe(session, message, utcnow()):
        audit.record(session, "recipient", "consent.unsubscribe", f"outbox:{message.id}")
    session.commit()
    return render_template("analytics/unsubscribe.html", token=token, done=True)


def _not_found():
    body = render_template("analytics/link_not_found.html")
    return Response(body, status=404, mimetype="text/html", headers=NO_STORE)


for _endpoint in ("open_pixel", "click", "unsubscribe_page", "unsubscribe"):
    allow(f"tracking.{_endpoint}", PUBLIC)
