"""Alembic migrations run from code: `upgrade_database(app)` at start-up and in tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from flask import Flask

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(app: Flask, revision: str = "head") -> None:
    """Bring the schema to `revision` on the app's engine (idempotent)."""
    config = alembic_config(app.config["DATABASE_URL"])
    with app.extensions["sendwell.engine"].begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
