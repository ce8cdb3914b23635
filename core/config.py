"""Settings: defaults, then `instance/config.py`, then `SENDWELL_*` environment variables.

Only this module reads the environment; everything else reads `app.config`.
"""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask

from core.errors import ConfigError
from core.files import create_once

PREFIX = "SENDWELL_"
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}

DEFAULTS: dict[str, object] = {
    "DATABASE_URL": None,  # filled in: SQLite under instance/
    "MASTER_KEY": None,
    "MASTER_KEY_FILE": None,  # filled in: instance/master.key
    "SMTP_URL": "smtp://localhost:8025",
    "SMTP_CA_FILE": None,
    "SMTP_FROM": "Sendwell Care Team <care@sendwell.example.org>",
    "BASE_URL": "http://localhost:5000",
    "RP_ID": "localhost",
    "RP_ORIGIN": "http://localhost:5000",
    "RP_NAME": "Sendwell",
    "ORG_TIMEZONE": "America/Chicago",
    "ORG_POSTAL_ADDRESS": "Sendwell Health, 100 Main Street, Omaha, NE 68102",
    "SESSION_IDLE_MINUTES": 15,
    "SESSION_ABSOLUTE_HOURS": 12,
    "CONVERSION_WINDOW_DAYS": 7,
    "DEV_MAILBOX": False,
    "CLOCK_START": None,  # ISO instant: the app's clock starts there (demo)
    "CDP_MAX_FILE_BYTES": 2 * 1024**3,
    "CDP_MAX_ROWS": 5_000_000,
    "AUTH_RATE_LIMIT_PER_MINUTE": 10,
    "SEND_LEASE_SECONDS": 600,
    "SEND_CLAIM_LIMIT": 100,
    "SCHEDULER_METRICS_PORT": 0,  # 0: the scheduler serves no metrics port of its own
    "METRICS_PUBLIC": False,
}
BOOL_KEYS = {"DEV_MAILBOX", "METRICS_PUBLIC"}
INT_KEYS = {
    "SESSION_IDLE_MINUTES", "SESSION_ABSOLUTE_HOURS", "CONVERSION_WINDOW_DAYS",
    "CDP_MAX_FILE_BYTES", "CDP_MAX_ROWS", "AUTH_RATE_LIMIT_PER_MINUTE", "SEND_LEASE_SECONDS",
    "SEND_CLAIM_LIMIT", "SCHEDULER_METRICS_PORT",
}


def instance_path(test_config: dict | None) -> str | None:
    """Where the instance folder is: test config, `SENDWELL_INSTANCE_PATH`, or Flask's default."""
    if test_config and test_config.get("INSTANCE_PATH"):
        return str(Path(test_config["INSTANCE_PATH"]).resolve())
    env = os.environ.get(f"{PREFIX}INSTANCE_PATH")
    return str(Path(env).resolve()) if env else None


def parse_bool(name: str, raw: str | bool) -> bool:
    """Read a boolean setting; anything but the accepted words stops start-up."""
    if isinstance(raw, bool):
        return raw
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(
        f"{PREFIX}{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off"
    )


def load_config(app: Flask, test_config: dict | None = None) -> None:
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    for key in DEFAULTS:
        if f"{PREFIX}{key}" in os.environ:
            app.config[key] = os.environ[f"{PREFIX}{key}"]
    if test_config:
        app.config.from_mapping(test_config)
    _coerce(app)
    _fill_paths(app, instance)


def _coerce(app: Flask) -> None:
    for key in BOOL_KEYS:
        app.config[key] = parse_bool(key, app.config[key])
    for key in INT_KEYS:
        try:
            app.config[key] = int(app.config[key])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{PREFIX}{key} must be a whole number") from exc
    try:
        ZoneInfo(app.config["ORG_TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{PREFIX}ORG_TIMEZONE: unknown time zone") from exc


def _fill_paths(app: Flask, instance: Path) -> None:
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{instance / 'sendwell.db'}"
    if not app.config["MASTER_KEY_FILE"]:
        app.config["MASTER_KEY_FILE"] = str(instance / "master.key")
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(instance / "secret.key")


def _instance_secret(path: Path) -> str:
    """The Flask secret key: generated once per instance, never overwritten."""
    if not path.exists():
        create_once(path, os.urandom(32).hex().encode())
    return path.read_text().strip()
