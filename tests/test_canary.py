"""The canary: patients with unique marker strings go through the whole pipeline — CDP
import (profile, traits, events), segments, a drip over STARTTLS to the dev SMTP server,
opens, clicks, an unsubscribe, error pages hit with bad input, a backup — and no marker may
appear in the database file, a pg_dump, the backup, the logs or any page served."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from campaigns.sending import send_due
from cdp.service import import_paths
from core.crypto import key_ring
from core.db import new_session
from core.dev_smtp import DevSmtpServer
from core.mail_transport import SmtpTransport
from core.models import CaughtMessage
from patients.models import Patient
from patients.service import load_profile
from segments.service import count_rule
from tests.campaigns.helpers import NOW, launched_workflow

AS_OF = date(2023, 12, 31)
BASE = "http://localhost:5000"


def make_markers() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {
        "first": f"Cnryfirst{tag}", "last": f"Cnrylast{tag}", "email": f"cnry.{tag}@example.org",
        "address": f"{tag} Cnrystreet", "city": f"Cnrycity{tag}", "cdp": f"cnrycdp{tag}",
        "trait": f"Cnrytrait{tag}", "prop": f"Cnryprop{tag}", "msg": f"cnrymsg{tag}",
        "event": f"Cnryevent{tag}", "bad_email": f"cnrybad{tag}@@nowhere",
        "birth": "1937-11-23",
    }


def write_cdp_files(folder, markers: dict) -> list:
    """A flat profile file (with a trait column and one invalid email) and Segment events."""
    contacts = folder / "contacts.csv"
    rows = ["patient_id,email,first_name,last_name,birth_date,address,city,state,zip,"
            "email_opt_in,favourite_colour"]
    for n in range(3):
        rows.append(f"{markers['cdp']}-{n},{n}{markers['email']},{markers['first']}{n},"
                    f"{markers['last']},{markers['birth']},{markers['address']} {n},"
                    f"{markers['city']},Nebraska,68504,yes,{markers['trait']}")
    rows.append(f"{markers['cdp']}-bad,{markers['bad_email']},{markers['first']}x,"
                f"{markers['last']},{markers['birth']},,,Nebraska,68504,yes,")
    contacts.write_text("\n".join(rows) + "\n", encoding="utf-8")
    events = folder / "events.ndjson"
    events.write_text("\n".join(json.dumps({
        "type": "track", "event": name, "userId": f"{markers['cdp']}-{n}",
        "messageId": f"{markers['msg']}-{n}-{name[:4]}", "timestamp": "2023-06-01T12:00:00Z",
        "properties": {"note": markers["prop"]},
    }) for n in range(3) for name in ("Portal Login", markers["event"])) + "\n")
    return [contacts, events]


def needles(markers: dict) -> set[bytes]:
    found = set()
    for value in markers.values():
        for variant in (value, value.lower(), value.upper()):
            found |= {variant.encode(), variant.encode("utf-16-le")}
    return found


def leaks(data: bytes, markers: dict) -> list[str]:
    return sorted({n.decode("latin-1") for n in needles(markers) if n in data})


@pytest.fixture
def smtp(app):
    server = DevSmtpServer(app).start()
    app.config.update(SMTP_URL=f"smtp://localhost:{server.port}", SMTP_CA_FILE=server.ca_file)
    yield server
    server.stop()


def run_pipeline(app, session, tmp_path, markers: dict) -> dict:
    key_ring()
    report = import_paths(session, write_cdp_files(tmp_path, markers), as_of=AS_OF)
    assert (report["status"], report["inserted"], report["events"]) == ("completed", 4, 6)
    session.commit()
    counts = count_rule(session, {"field": "age", "op": "gte", "value": 80}, AS_OF)
    assert counts == {"count": 4, "reachable": 3}
    launched_workflow(session)
    session.commit()
    sent = send_due(new_session, NOW + timedelta(minutes=1), SmtpTransport.from_config(
        app.config), BASE)
    assert sent["sent"] == 3
    return report


def caught_texts(session) -> list[str]:
    ring = key_ring()
    return [ring.decrypt(m.raw, "caught_messages", "raw", m.id).decode()
            for m in session.scalars(select(CaughtMessage))]


def hit_tracking(client, session) -> list[bytes]:
    """Open, click and unsubscribe through the real endpoints; the bodies served."""
    texts = caught_texts(session)
    assert len(texts) == 3 and all(re.search(r"Cnryfirst", t) for t in texts)  # sent for real
    bodies = []
    for text in texts:
        for path in re.findall(r"http://localhost:5000(/(?:t/o|t/c|u)/[A-Za-z0-9_\-.]+)", text):
            bodies.append(client.get(path, headers={"User-Agent": "Mozilla/5.0"}).data)
    unsubscribe = re.search(r"http://localhost:5000(/u/[A-Za-z0-9_\-]+)", texts[0]).group(1)
    bodies.append(client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).data)
    return bodies


def error_pages(client, markers: dict) -> list[bytes]:
    """Bad input everywhere a marker could be echoed back."""
    bodies = []
    for value in (markers["email"], markers["first"], markers["cdp"]):
        for path in (f"/t/c/{value}", f"/t/o/{value}.gif", f"/u/{value}", f"/segments/{value}",
                     f"/campaigns/{value}", f"/auth/enroll/{value}", f"/no-such-page/{value}",
                     f"/?q={value}", f"/auth/login?next=/{value}"):
            response = client.get(path)
            assert response.status_code < 500, path
            bodies.append(response.data)
        bodies.append(client.post(f"/u/{value}").data)
        bodies.append(client.post("/auth/logout", data={"email": value}).data)
    return bodies


def test_no_marker_leaks_anywhere(app, session, client, runner, smtp, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # statements and parameters
    markers = make_markers()
    report = run_pipeline(app, session, tmp_path, markers)
    assert report["errors"] and not leaks(json.dumps(report).encode(), markers)
    served = hit_tracking(client, session) + error_pages(client, markers)
    backup_file = tmp_path / "canary.backup"
    result = runner.invoke(args=["backup", "create", "--out", str(backup_file)])
    assert result.exit_code == 0, result.output

    # the markers really are in there, decrypted on demand
    patient_ids = session.scalars(select(Patient.id)).all()
    names = {load_profile(session, pid)["last_name"] for pid in patient_ids}
    assert names == {markers["last"]}
    session.rollback()

    assert leaks((tmp_path / "contacts.csv").read_bytes(), markers)  # the scan does find them
    assert not leaks(b"".join(served), markers), "a page served a marker"
    assert not leaks(backup_file.read_bytes(), markers), "the backup holds a marker"
    assert not leaks(result.output.encode(), markers)
    logs = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert any("INSERT INTO patients" in r.getMessage() for r in caplog.records)
    assert not leaks(logs.encode(), markers), "a log line holds a marker"
    for path in database_files(app):
        assert not leaks(path.read_bytes(), markers), f"{path.name} holds a marker"
    for path in (p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".csv"
                 and p.name != "events.ndjson"):
        assert not leaks(path.read_bytes(), markers), f"{path.name} holds a marker"


def database_files(app) -> list:
    url = make_url(app.config["DATABASE_URL"])
    if url.get_backend_name() != "sqlite":
        return []
    main = Path(url.database)
    files = [p for p in (main, Path(f"{main}-wal")) if p.exists()]
    assert main in files and sum(p.stat().st_size for p in files) > 50_000  # rows in WAL
    return files


def test_pg_dump_holds_no_marker(app, session, client, smtp, tmp_path):
    url = make_url(app.config["DATABASE_URL"])
    if url.get_backend_name() != "postgresql":
        pytest.skip("pg_dump applies to the PostgreSQL variant only")
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not on PATH")
    markers = make_markers()
    run_pipeline(app, session, tmp_path, markers)
    hit_tracking(client, session)
    session.rollback()
    schema = url.query["options"].removeprefix("-csearch_path=")
    libpq = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    dump = subprocess.run(["pg_dump", "--schema", schema, "--no-owner", libpq],
                          capture_output=True, timeout=120)
    if dump.returncode and b"version mismatch" in dump.stderr:
        pytest.skip("pg_dump's version does not match the server's")
    assert dump.returncode == 0, dump.stderr.decode()
    assert b"CREATE TABLE" in dump.stdout and b"patients" in dump.stdout
    assert not leaks(dump.stdout, markers), "pg_dump holds a marker"
