"""Periodic jobs: a declarative table with stable ids, run by APScheduler 3.

Packages register their jobs in `init_app` (`register_job`); `flask scheduler` runs them in
a blocking scheduler, `flask demo` in a background one beside the web server. Per-patient
timing lives in database rows (the outbox), never in one APScheduler job per patient.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask, current_app
from flask.cli import with_appcontext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[[], object]  # runs inside an app context
    seconds: int
    description: str = ""


def register_job(app: Flask, spec: JobSpec) -> None:
    jobs: dict[str, JobSpec] = app.extensions.setdefault("sendwell.jobs", {})
    if spec.id in jobs:
        raise ValueError(f"job id {spec.id!r} registered twice")
    jobs[spec.id] = spec


def job_table(app: Flask) -> list[JobSpec]:
    return sorted(app.extensions.get("sendwell.jobs", {}).values(), key=lambda j: j.id)


def _runner(app: Flask, spec: JobSpec) -> Callable[[], None]:
    def run() -> None:
        with app.app_context():
            try:
                spec.func()
            except Exception:  # a failed run is logged and retried at the next tick
                log.exception("job %s failed", spec.id)

    return run


def schedule_jobs(app: Flask, scheduler: BaseScheduler) -> BaseScheduler:
    """Add every registered job under its stable id (replacing any stale copy)."""
    for spec in job_table(app):
        scheduler.add_job(
            _runner(app, spec), "interval", seconds=spec.seconds, id=spec.id,
            replace_existing=True, max_instances=1, coalesce=True,
        )
    return scheduler


def background_scheduler(app: Flask) -> BackgroundScheduler:
    return schedule_jobs(app, BackgroundScheduler(timezone="UTC"))


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the periodic jobs until interrupted (one scheduler process per deployment)."""
    app = current_app._get_current_object()
    for spec in job_table(app):
        click.echo(f"job {spec.id}: every {spec.seconds}s — {spec.description}", err=True)
    schedule_jobs(app, BlockingScheduler(timezone="UTC")).start()


def init_app(app: Flask) -> None:
    app.cli.add_command(scheduler_command)
