"""The application's error hierarchy and the handler that turns errors into responses.

Services raise subclasses of `SendwellError`; pages get a flash-and-redirect, API calls
(JSON requested) get `{"error": ...}`. Messages never carry patient values.
"""

from __future__ import annotations

from flask import Flask, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException, InternalServerError


class SendwellError(Exception):
    """A failure the user can act on; its message is safe to show."""

    status_code = 400


class NotFound(SendwellError):
    status_code = 404


class Forbidden(SendwellError):
    status_code = 403


class ConfigError(SendwellError):
    """Settings that stop start-up."""


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.is_json or best == "application/json" or request.path.startswith("/api/")


PAGE_TITLES = {
    400: "That request could not be understood",
    403: "You do not have access to this page",
    404: "Page not found",
    405: "That action is not allowed here",
    413: "That upload is too large",
    429: "Too many requests",
    500: "Something went wrong on our side",
}


def handle_sendwell_error(error: SendwellError):
    if _wants_json():
        return jsonify(error=str(error)), error.status_code
    if isinstance(error, NotFound):
        return _page(404, str(error))
    flash(str(error), "error")
    return redirect(request.referrer or url_for("analytics.dashboard"))


def handle_http_error(error: HTTPException):
    """Generic pages: never the exception's text, which could hold request data."""
    code = error.code or 500
    if _wants_json():
        return jsonify(error=PAGE_TITLES.get(code, "error")), code
    if code < 400:
        return error
    return _page(code)


def handle_unexpected(_error: Exception):
    return handle_http_error(InternalServerError())


def _page(code: int, detail: str = ""):
    title = PAGE_TITLES.get(code, "Something went wrong")
    return render_template("errors/error.html", code=code, title=title, detail=detail), code


def init_app(app: Flask) -> None:
    app.register_error_handler(SendwellError, handle_sendwell_error)
    app.register_error_handler(HTTPException, handle_http_error)
    if not app.testing:
        app.register_error_handler(Exception, handle_unexpected)
