"""Sendwell's application factory: settings, then one `init_app` per subsystem."""

from __future__ import annotations

from flask import Flask

import analytics
import auth
import campaigns
import cdp
import demo
import patients
import segments
from core import cli as core_cli
from core import config, crypto, db, errors, health, migrate, scheduler, security, web


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=config.instance_path(test_config),
        instance_relative_config=True,
    )
    config.load_config(app, test_config)
    db.init_app(app)
    if app.config.get("AUTO_MIGRATE", True):
        migrate.upgrade_database(app)
    crypto.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    web.init_app(app)
    core_cli.init_app(app)
    scheduler.init_app(app)
    health.init_app(app)
    for package in (auth, cdp, patients, segments, campaigns, analytics, demo):
        package.init_app(app)
    return app
