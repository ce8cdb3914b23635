"""Key rotation: `flask keys rotate-master` re-wraps, `flask keys rotate-data` re-encrypts
and re-indexes in committed batches, survives SIGKILL half-way and completes on re-run."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from core.crypto import (
    ciphertext_version,
    forget_key_ring,
    key_ring,
    load_key_ring,
    load_master_key,
)
from core.errors import ConfigError
from core.keys import start_rotation, table_plans
from core.models import KeyVersion
from patients.consent import is_suppressed
from patients.events import store_events
from patients.models import Patient, Suppression
from patients.service import find_by_cdp_id, load_profile
from segments.service import count_rule
from tests.conftest import REPO, TEST_MASTER_KEY
from tests.factories import make_patient

AS_OF = date(2023, 12, 31)
RULES = [
    {"field": "age", "op": "gte", "value": 40},
    {"field": "condition_group", "op": "includes", "value": "prediabetes"},
    {"event": "Portal Login", "op": "count_at_least", "value": 1, "within_days": 365},
    {"all": [{"field": "reachable", "op": "eq", "value": True},
             {"field": "age", "op": "lt", "value": 40}]},
]
PROGRESS = re.compile(r"(\d+) rows re-encrypted")


@pytest.fixture(autouse=True)
def _warm_key_ring(session):
    key_ring()


def populate(session, count: int = 60) -> list[dict]:
    """Patients with varied facets, one event each, every fifth one suppressed."""
    people = []
    for n in range(count):
        person = {"cdp_id": f"cdp-{n:03d}", "email": f"rotate{n}@example.org",
                  "message_id": f"msg-{n:03d}"}
        patient = make_patient(
            session, cdp_id=person["cdp_id"], email=person["email"],
            birth_date="1950-02-03" if n % 2 else "2001-07-08", suppressed=n % 5 == 0,
            conditions=["prediabetes"] if n % 3 == 0 else [],
        )
        store_events(session, [{
            "patient_id": patient.id, "message_id": person["message_id"],
            "name": "Portal Login" if n % 2 == 0 else "Appointment Booked",
            "occurred_at": datetime(2023, 6, 1, 12, tzinfo=UTC), "properties": {"n": n},
        }])
        people.append(person | {"id": patient.id})
    session.commit()
    return people


def counts(session) -> list[dict]:
    found = [count_rule(session, rule, AS_OF) for rule in RULES]
    session.rollback()  # end the read: SQLite would make the rotating process wait
    return found


def stored_versions(session) -> dict[int, int]:
    """How many stored ciphertexts each data-key version encrypts, over every table."""
    found: dict[int, int] = {}
    for plan in table_plans():
        columns = [plan.table.c[name] for name in plan.encrypted]
        for row in session.execute(select(*columns)) if columns else []:
            for blob in row:
                version = ciphertext_version(blob)
                found[version] = found.get(version, 0) + 1
    return found


def patient_versions(session) -> set[int]:
    return {ciphertext_version(b) for b in session.scalars(select(Patient.profile_enc))}


def flask_env(app) -> dict:
    env = dict(os.environ)
    env.update(
        SENDWELL_DATABASE_URL=app.config["DATABASE_URL"], SENDWELL_MASTER_KEY=TEST_MASTER_KEY,
        SENDWELL_INSTANCE_PATH=app.instance_path, SENDWELL_ROTATE_BATCH_SIZE="10",
    )
    return env


def flask_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "flask"), "--app", "app", *args]


def run_until_killed(app, rows: int) -> int:
    """Start `flask keys rotate-data` slowly; SIGKILL it once it reports `rows` rows."""
    env = flask_env(app) | {"SENDWELL_ROTATE_BATCH_DELAY": "0.3"}
    process = subprocess.Popen(flask_command("keys", "rotate-data"), cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    reported, lines = 0, []
    try:
        for line in process.stderr:
            lines.append(line)
            if (match := PROGRESS.search(line)) and int(match.group(1)) >= rows:
                reported = int(match.group(1))
                break
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL, "".join(lines[-20:])
    return reported


def fresh_process_counts(app, folder) -> list[dict]:
    found = []
    for n, rule in enumerate(RULES):
        path = folder / f"rule{n}.json"
        path.write_text(json.dumps(rule))
        done = subprocess.run(
            flask_command("segments", "count", "--rule", str(path), "--as-of", "2023-12-31"),
            cwd=REPO, env=flask_env(app), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        found.append(json.loads(done.stdout))
    return found


def test_rotate_data_killed_half_way_then_rerun_completes(app, session, tmp_path):
    people = populate(session)
    before = counts(session)
    assert [c["count"] for c in before] == [30, 20, 30, 24]

    assert run_until_killed(app, rows=90) >= 90
    session.expire_all()
    assert patient_versions(session) == {1, 2}  # half-way: both versions stored
    # Reads keep working mid-way with the ring loaded before the rotation started.
    assert {load_profile(session, p["id"])["email"] for p in people} == {
        p["email"] for p in people}
    session.rollback()

    done = subprocess.run(flask_command("keys", "rotate-data", "--json"), cwd=REPO,
                          env=flask_env(app), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["status"], summary["resumed"], summary["data_version"]) == (
        "completed", True, 2)

    assert fresh_process_counts(app, tmp_path) == before  # no cache from before the rotation
    forget_key_ring(app)
    session.expire_all()
    assert stored_versions(session)[2] >= 3 * len(people)  # profile, facets, event (+ blocks)
    assert set(stored_versions(session)) == {2}
    statuses = {(k.purpose, k.version): k.status for k in session.scalars(select(KeyVersion))}
    assert statuses == {("data", 1): "retired", ("index", 1): "retired",
                        ("data", 2): "active", ("index", 2): "active"}
    assert_lookups_work(session, people)
    assert counts(session) == before


def assert_lookups_work(session, people: list[dict]) -> None:
    for person in people:
        assert find_by_cdp_id(session, person["cdp_id"]).id == person["id"]
    suppressed = [p for n, p in enumerate(people) if n % 5 == 0]
    assert all(is_suppressed(session, p["email"]) for p in suppressed)
    assert not is_suppressed(session, people[1]["email"])
    again = [{"patient_id": p["id"], "message_id": p["message_id"], "name": "x",
              "occurred_at": datetime(2023, 6, 1, tzinfo=UTC)} for p in people]
    assert store_events(session, again, dry_run=True) == 0


def test_rotate_data_twice_keeps_chained_indexes_working(app, session, runner):
    people = populate(session, count=12)
    before = counts(session)
    for version in (2, 3):
        result = runner.invoke(args=["keys", "rotate-data", "--json", "--batch-size", "5"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["data_version"] == version
    session.expire_all()
    assert set(stored_versions(session)) == {3}
    assert_lookups_work(session, people)
    assert counts(session) == before
    status = json.loads(runner.invoke(args=["keys", "status", "--json"]).stdout)
    assert [k["status"] for k in status["keys"] if k["purpose"] == "data"] == [
        "retired", "retired", "active"]
    assert status["rotation"] is None


def test_blind_indexes_offer_both_versions_during_a_rotation(app, session):
    people = populate(session, count=3)
    stored = session.scalar(select(Patient.email_bidx).where(Patient.id == people[0]["id"]))
    rotation = start_rotation(session, load_master_key(app.config))
    session.commit()
    ring = load_key_ring(session, load_master_key(app.config))
    candidates = ring.blind_indexes("email", people[0]["email"])
    assert len(candidates) == 2
    assert candidates[1] == stored and candidates[0] == ring.blind_index("email",
                                                                        people[0]["email"])
    assert ring.reindex(stored, rotation.index_from) == candidates[0]
    # index-only tables are lifted when the rotation starts
    lifted = set(session.scalars(select(Suppression.email_bidx)))
    assert ring.blind_index("email", people[0]["email"]) in lifted


def test_rotate_master_rewraps_and_refuses_the_old_key(app, session, runner, tmp_path):
    people = populate(session, count=2)
    key_file = tmp_path / "new-master.key"
    result = runner.invoke(args=["keys", "rotate-master", "--new-key-file", str(key_file),
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "status": "completed", "key_versions": 2, "key_file": str(key_file)}
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with pytest.raises(ConfigError, match="master key does not open"):
        key_ring()  # the app still configured with the old master key

    app.config.update(MASTER_KEY=key_file.read_text().strip())
    forget_key_ring(app)
    session.expire_all()
    assert load_profile(session, people[0]["id"])["email"] == people[0]["email"]
    assert find_by_cdp_id(session, people[1]["cdp_id"]).id == people[1]["id"]


def test_rotate_master_reads_an_existing_key_file_and_refuses_the_same_key(runner, session,
                                                                          tmp_path):
    same = tmp_path / "same.key"
    same.write_text(TEST_MASTER_KEY)
    result = runner.invoke(args=["keys", "rotate-master", "--new-key-file", str(same)])
    assert result.exit_code == 1
    assert "is the current one" in result.stderr
