"""`flask backup create|restore`: an encrypted file holding no plaintext, restored into an
empty SQLite or PostgreSQL database; and `flask audit verify` catching an edited row."""

from __future__ import annotations

import base64
import json
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select, text

from app import create_app
from core import audit
from core.crypto import load_data_keys, load_master_key
from core.db import get_session
from core.models import AuditEvent
from patients.models import Patient
from patients.service import find_by_cdp_id, load_profile
from tests.conftest import TEST_MASTER_KEY
from tests.conftest import fresh_database as database
from tests.factories import make_patient

MARKERS = {"first_name": "Bkpfirstqzx", "last_name": "Bkplastqzx",
           "email": "bkp.marker.qzx@example.org", "address": "77 Bkpstreetqzx Road"}


@contextmanager
def sendwell(url: str, folder, master: str = TEST_MASTER_KEY):
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(folder), "DATABASE_URL": url,
                      "MASTER_KEY": master, "SECRET_KEY": "test-secret"})
    try:
        yield app
    finally:
        app.extensions["sendwell.engine"].dispose()


def populate(app) -> str:
    with app.app_context():
        session = get_session()
        patient = make_patient(session, cdp_id="cdp-backup-1", birth_date="1961-03-04",
                               **MARKERS)
        make_patient(session, suppressed=True)
        audit.record(session, "test", "patients.view", target=patient.id)
        session.commit()
        return patient.id


def invoke(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


@pytest.mark.parametrize("source_kind,target_kind", [
    ("sqlite", "sqlite"), ("sqlite", "postgresql"), ("postgresql", "sqlite"),
])
def test_backup_restores_into_an_empty_database(tmp_path, source_kind, target_kind):
    backup_file = tmp_path / "sendwell.backup"
    with database(source_kind, tmp_path) as source_url, database(target_kind, tmp_path) as \
            target_url, sendwell(source_url, tmp_path / "a") as source, \
            sendwell(target_url, tmp_path / "b") as target:
        patient_id = populate(source)
        created = invoke(source, "backup", "create", "--out", str(backup_file), "--json")
        assert created.exit_code == 0, created.output
        rows = json.loads(created.stdout)["rows"]
        assert (rows["patients"], rows["suppressions"], rows["audit_events"]) == (2, 1, 1)
        assert_no_plaintext(source, backup_file)

        restored = invoke(target, "backup", "restore", str(backup_file), "--json")
        assert restored.exit_code == 0, restored.output
        assert json.loads(restored.stdout)["rows"] == rows
        with target.app_context():
            session = get_session()
            profile = load_profile(session, patient_id)
            assert {k: profile[k] for k in MARKERS} == MARKERS
            assert profile["birth_date"] == "1961-03-04"
            assert find_by_cdp_id(session, "cdp-backup-1").id == patient_id
            actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
            assert actions == ["patients.view", "backup.restore"]
        verified = invoke(target, "audit", "verify", "--json")
        assert verified.exit_code == 0, verified.output
        assert json.loads(verified.stdout)["intact"] is True
        # a second event after the restore continues the chain (serial ids continue too)
        with target.app_context():
            audit.record(get_session(), "test", "after.restore")
            get_session().commit()
        assert invoke(target, "audit", "verify").exit_code == 0


def assert_no_plaintext(app, backup_file) -> None:
    data = backup_file.read_bytes()
    needles = [v.encode() for v in MARKERS.values()] + [b"1961-03-04", b"cdp-backup-1"]
    with app.app_context():
        keys = load_data_keys(get_session(), load_master_key(app.config))
    needles += [k.key for k in keys] + [base64.b64encode(k.key) for k in keys]
    needles.append(base64.urlsafe_b64decode(TEST_MASTER_KEY))
    assert not [n for n in needles if n in data]
    assert data.startswith(b"SWBK1\n")


def test_restore_refuses_a_database_that_is_not_empty(app, session, runner, tmp_path):
    populate(app)
    backup_file = tmp_path / "b.backup"
    assert runner.invoke(args=["backup", "create", "--out", str(backup_file)]).exit_code == 0
    result = runner.invoke(args=["backup", "restore", str(backup_file)])
    assert result.exit_code == 1
    assert "not empty" in result.stderr
    assert session.scalar(select(func.count()).select_from(Patient)) == 2


def test_restore_refuses_another_master_key_and_a_truncated_file(app, runner, tmp_path):
    populate(app)
    backup_file = tmp_path / "b.backup"
    assert runner.invoke(args=["backup", "create", "--out", str(backup_file)]).exit_code == 0
    other_key = base64.urlsafe_b64encode(b"o" * 32).decode()
    with database("sqlite", tmp_path) as url, sendwell(url, tmp_path / "x", other_key) as other:
        result = invoke(other, "backup", "restore", str(backup_file))
        assert result.exit_code == 1
        assert "another master key" in result.stderr
    truncated = tmp_path / "cut.backup"
    truncated.write_bytes(backup_file.read_bytes()[:-40])
    with database("sqlite", tmp_path) as url, sendwell(url, tmp_path / "y") as fresh:
        result = invoke(fresh, "backup", "restore", str(truncated))
        assert result.exit_code == 1
        with fresh.app_context():
            assert get_session().scalar(select(func.count()).select_from(Patient)) == 0


def test_backup_create_refuses_to_overwrite(runner, session, tmp_path):
    existing = tmp_path / "there.backup"
    existing.write_bytes(b"keep")
    result = runner.invoke(args=["backup", "create", "--out", str(existing)])
    assert result.exit_code == 1
    assert existing.read_bytes() == b"keep"


def test_audit_verify_fails_after_one_row_is_altered(app, session, runner):
    for n in range(3):
        audit.record(session, "test", "segments.run", count=n)
    session.commit()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    session.execute(text("UPDATE audit_events SET details = :d WHERE id = :i"),
                    {"d": json.dumps({"count": 99}), "i": 2})
    session.commit()
    result = runner.invoke(args=["audit", "verify", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"intact": False, "events": 1, "first_broken": 2}
