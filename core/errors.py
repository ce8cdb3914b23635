"""The application's error hierarchy and the handler that turns errors into responses.

Services raise subclasses of `SendwellError`; pages get a flash-and-redirect, API calls
(JSON requested) get `{"error": ...}`. Messages never carry patient values.
"""

from __future__ import annotations

from flask import Flask, flash, jsonify, redirect, request, url_for


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


def handle_sendwell_error(error: SendwellError):
    if _wants_json():
        return jsonify(error=str(error)), error.status_code
    flash(str(error), "error")
    return redirect(request.referrer or url_for("analytics.dashboard"))


def init_app(app: Flask) -> None:
    app.register_error_handler(SendwellError, handle_sendwell_error)
