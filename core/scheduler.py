"""Periodic jobs: a declarative table with stable ids, run by APScheduler 3.

Packages register their jobs in `init_app` (`register_job`); `flask scheduler` runs them in
a blocking scheduler, `flask demo` in a background one beside the web server. Per-patient
timing lives in database rows (the outbox), never in one APScheduler job per patient.

One scheduler per database: `flask scheduler` holds a lock for its whole life — a
PostgreSQL session advisory lock (keyed by database and schema) on a connection of its own,
or on SQLite an `flock` on `<instance>/scheduler.lock`. A second one started by mistake
exits with status 1 and says why. The lock dies with the process (even on SIGKILL); if the
lock's database connection is lost the scheduler stops (exit 3) so the service manager
restarts it and it competes for the lock again.

Settings: `SCHEDULER_JOB_SECONDS` (every job's interval, for tests and demos),
`SCHEDULER_METRICS_PORT` (serve this process's counters, see `core.metrics`).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from core import metrics
from core.db import engine

log = logging.getLogger(__name__)
LOCK_NAME = "sendwell.scheduler"
WATCH_SECONDS = 15


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
        started, ok = time.monotonic(), False
        with app.app_context():
            try:
                spec.func()
                ok = True
            except Exception:  # a failed run is logged and retried at the next tick
                log.exception("job %s failed", spec.id)
            finally:
                metrics.job_run(spec.id, ok, time.monotonic() - started)

    return run


def job_seconds(app: Flask, spec: JobSpec) -> int:
    return int(app.config.get("SCHEDULER_JOB_SECONDS") or spec.seconds)


def schedule_jobs(app: Flask, scheduler: BaseScheduler) -> BaseScheduler:
    """Add every registered job under its stable id (replacing any stale copy)."""
    for spec in job_table(app):
        scheduler.add_job(
            _runner(app, spec), "interval", seconds=job_seconds(app, spec), id=spec.id,
            replace_existing=True, max_instances=1, coalesce=True,
        )
    return scheduler


def background_scheduler(app: Flask) -> BackgroundScheduler:
    return schedule_jobs(app, BackgroundScheduler(timezone="UTC"))


class SchedulerLock:
    """Held by the one scheduler process of a database, for its whole life."""

    def __init__(self, db: Engine, instance_path: str):
        self.db = db
        self.lock_file = Path(instance_path) / "scheduler.lock"
        self._conn: Connection | None = None
        self._key: int | None = None
        self._fd: int | None = None

    @property
    def kind(self) -> str:
        if self.db.dialect.name == "postgresql":
            return "PostgreSQL advisory lock"
        return f"lock file {self.lock_file}"

    def acquire(self) -> bool:
        """True when this process now holds the lock; False when another one does."""
        if self.db.dialect.name == "postgresql":
            return self._acquire_advisory()
        return self._acquire_file()

    def _acquire_advisory(self) -> bool:
        conn = self.db.connect()
        where = conn.execute(text("SELECT current_database() || '.' || current_schema()"))
        key = advisory_key(where.scalar_one())
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
        conn.commit()  # the lock is session-level: no transaction is left open
        if not got:
            conn.close()
            return False
        self._conn, self._key = conn, key
        return True

    def _acquire_file(self) -> bool:
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def alive(self) -> bool:
        """Is the lock still ours? (PostgreSQL: does its connection still answer?)"""
        if self._conn is None:
            return self._fd is not None
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
        except SQLAlchemyError:
            return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._conn.commit()
            except SQLAlchemyError:
                pass
            finally:  # never hand a lock-holding session back to the pool
                self._conn.invalidate()
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def advisory_key(where: str) -> int:
    """A stable signed 64-bit lock key for this database and schema."""
    digest = hashlib.sha256(f"{LOCK_NAME}:{where}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _watch(lock: SchedulerLock, scheduler: BaseScheduler, lost: list[bool]) -> Callable[[], None]:
    def watch() -> None:
        if not lock.alive():
            log.error("scheduler: lost the scheduler lock's database connection; stopping")
            lost.append(True)
            scheduler.shutdown(wait=False)

    return watch


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the periodic jobs until interrupted (one scheduler process per deployment)."""
    app = current_app._get_current_object()
    lock = SchedulerLock(engine(), app.instance_path)
    if not lock.acquire():
        raise click.ClickException(
            f"another scheduler is already running for this database ({lock.kind} is "
            "held); refusing to start a second one — run exactly one `flask scheduler`")
    try:
        _run_locked(app, lock)
    finally:
        lock.release()


def _run_locked(app: Flask, lock: SchedulerLock) -> None:
    click.echo(f"scheduler: holding the {lock.kind} (pid {os.getpid()})", err=True)
    for spec in job_table(app):
        click.echo(f"job {spec.id}: every {job_seconds(app, spec)}s — {spec.description}",
                   err=True)
    if app.config.get("SCHEDULER_METRICS_PORT"):
        metrics.serve(int(app.config["SCHEDULER_METRICS_PORT"]))
    scheduler, lost = BlockingScheduler(timezone="UTC"), []
    schedule_jobs(app, scheduler)
    scheduler.add_job(_watch(lock, scheduler, lost), "interval", seconds=WATCH_SECONDS,
                      id="core.scheduler-lock", max_instances=1, coalesce=True)
    try:
        scheduler.start()
    except KeyboardInterrupt:
        click.echo("scheduler: stopped", err=True)
    if lost:
        raise click.exceptions.Exit(3)


def init_app(app: Flask) -> None:
    app.cli.add_command(scheduler_command)
    metrics.init_app(app)  # TODO(lead): call core.metrics.init_app from app.py instead
