"""Web plumbing shared by every blueprint: CSRF protection and template helpers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_wtf.csrf import CSRFProtect

from core.clock import parse_instant

csrf = CSRFProtect()


def local_time(value: str | datetime | None) -> str:
    """An instant as people read it, in the organisation's zone: `3 Jan 2024, 11:01 CST`."""
    if not value:
        return ""
    instant = parse_instant(value) if isinstance(value, str) else value
    local = instant.astimezone(ZoneInfo(current_app.config["ORG_TIMEZONE"]))
    return f"{local.day} {local:%b %Y, %H:%M %Z}"


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)
    app.add_template_filter(local_time)
