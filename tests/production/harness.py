"""Running real Sendwell processes against a private PostgreSQL schema, with bulk seeding.

Each test gets a schema of its own on `SENDWELL_TEST_DATABASE_URL`; child processes get it
through `SENDWELL_DATABASE_URL` with `options=-csearch_path=<schema>`, plus the master key,
an instance folder (whose `config.py` carries test-only settings) and the dev SMTP server.
"""

from __future__ import annotations

import email.parser
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from app import create_app
from campaigns import service
from campaigns.models import OutboxMessage, OutboxStatus, Workflow, WorkflowStatus
from campaigns.rendering import message_id_for
from core.clock import utcnow
from core.crypto import key_ring
from core.db import new_id, new_session
from core.models import CaughtMessage
from patients.service import insert_patients, patient_row
from segments.service import create_segment
from tests.conftest import REPO, TEST_MASTER_KEY
from tests.factories import _facets, _profile

FLASK = str(Path(sys.executable).parent / "flask")
HTML = '<p>Hi {{ first_name | default("there", true) }}, time for a check-up.</p>'
TEXT = 'Hi {{ first_name | default("there", true) }}, time for a check-up.\n'
SUBJECT = "Your check-up reminder"


def make_app(url: str, instance: Path, **settings):
    """The test's own app on the schema; `settings` also go to children via config.py."""
    instance.mkdir(parents=True, exist_ok=True)
    lines = [f"{key} = {value!r}" for key, value in settings.items()]
    (instance / "config.py").write_text("\n".join(lines) + "\n")
    return create_app({"INSTANCE_PATH": str(instance), "DATABASE_URL": url,
                       "MASTER_KEY": TEST_MASTER_KEY, "SECRET_KEY": "test-secret", **settings})


def child_env(url: str, instance: Path, smtp=None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDWELL_")}
    env.update(SENDWELL_DATABASE_URL=url, SENDWELL_MASTER_KEY=TEST_MASTER_KEY,
               SENDWELL_INSTANCE_PATH=str(instance), PYTHONUNBUFFERED="1")
    if smtp is not None:
        env.update(SENDWELL_SMTP_URL=f"smtp://localhost:{smtp.port}",
                   SENDWELL_SMTP_CA_FILE=smtp.ca_file)
    return env


class Child:
    """A real `flask` process; its output goes to a log file for the failure message."""

    def __init__(self, args: list[str], env: dict, log: Path):
        self.log = log
        self._fh = log.open("wb")
        self.proc = subprocess.Popen([FLASK, "--app", "app", *args], cwd=REPO, env=env,
                                     stdout=self._fh, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pid = self.proc.pid

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._fh.flush()

    def output(self) -> str:
        self._fh.flush()
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._fh.close()


def wait_for(predicate: Callable[[], object], timeout: float, step: float = 0.1,
             what: str = "condition"):
    """Poll until `predicate()` is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def campaign(session, name: str = "Check-up") -> Workflow:
    """A template, a segment of everyone and an active one-step workflow."""
    service.create_template(session, "reminder", SUBJECT, HTML, TEXT)
    segment = create_segment(session, "everyone", {"field": "age", "op": "gte", "value": 0})
    workflow = service.create_workflow(session, name, segment,
                                       [{"template": "reminder", "delay_days": 0}])
    workflow.status = WorkflowStatus.ACTIVE
    session.flush()
    return workflow


def seed_due_outbox(app, count: int, chunk: int = 1000) -> Workflow:
    """`count` synthetic patients, each with one due outbox row (Core bulk inserts)."""
    with app.app_context():
        ring, now = key_ring(), utcnow()
        sender = app.config["SMTP_FROM"]
        with new_session() as session:
            workflow = campaign(session)
            for start in range(0, count, chunk):
                patients, rows = [], []
                for n in range(start, min(start + chunk, count)):
                    pid = new_id()
                    profile = _profile(n, {"email": f"bulk{n}@example.org"})
                    patients.append(patient_row(ring, pid, profile, _facets(profile, {}),
                                                "bulk", now))
                    rows.append(_outbox_row(workflow, pid, now, sender))
                insert_patients(session, patients, [])
                session.execute(insert(OutboxMessage), rows)
            session.commit()
    return workflow


def _outbox_row(workflow: Workflow, patient_id: str, now: datetime, sender: str) -> dict:
    key = service.idempotency_key(workflow.id, 0, patient_id)
    return {"id": new_id(), "idempotency_key": key, "message_id": message_id_for(key, sender),
            "workflow_id": workflow.id, "segment_id": workflow.segment_id, "step_index": 0,
            "patient_id": patient_id, "due_at": now - timedelta(minutes=1),
            "status": OutboxStatus.QUEUED, "attempts": 0, "last_error": ""}


def caught_message_ids(app) -> Counter[str]:
    """How many times the dev SMTP server received each Message-ID."""
    parser = email.parser.BytesHeaderParser()
    with app.app_context():
        ring = key_ring()
        with new_session() as session:
            rows = session.execute(select(CaughtMessage.id, CaughtMessage.raw)).all()
        return Counter(
            parser.parsebytes(ring.decrypt(raw, "caught_messages", "raw", row_id))["Message-ID"]
            for row_id, raw in rows
        )


def caught_count(app) -> int:
    from sqlalchemy import func

    with app.app_context(), new_session() as session:
        return session.scalar(select(func.count()).select_from(CaughtMessage))


def outbox_statuses(app) -> dict[str, str]:
    """{message_id: status} of every outbox row."""
    with app.app_context(), new_session() as session:
        query = select(OutboxMessage.message_id, OutboxMessage.status)
        return {message_id: status for message_id, status in session.execute(query)}


def status_counts(app) -> Counter[str]:
    return Counter(outbox_statuses(app).values())
