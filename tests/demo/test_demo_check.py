"""`flask demo --check` end to end: the bundled sample imported, the drip sent over
STARTTLS to a real local SMTP server, an open and a click through real HTTP, and the
recipients checked against an oracle computed from the raw sample files."""

from __future__ import annotations

import csv
import json
from datetime import date
from email import message_from_bytes, policy

import pytest
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from core.crypto import key_ring
from core.models import CaughtMessage
from tests.conftest import SAMPLE

AS_OF = date(2023, 12, 31)
# SNOMED CT codes of the drip segment's groups, written out here as an independent oracle.
HYPERTENSION_OR_PREDIABETES = {"59621000", "38341003", "15777000", "714628002"}


def _rows(path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _usable(raw: str) -> str | None:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def expected_recipients() -> set[str]:
    """Living adults with an active hypertension/prediabetes condition, a usable email and
    no `email_opt_in = no` — computed from the raw files only."""
    synthea = SAMPLE / "synthea-csv-nebraska"
    alive_adults = {
        row["Id"]
        for row in _rows(synthea / "patients.csv")
        if not row["DEATHDATE"] and _age(date.fromisoformat(row["BIRTHDATE"]), AS_OF) >= 18
    }
    with_condition = {
        row["PATIENT"]
        for row in _rows(synthea / "conditions.csv")
        if row["CODE"] in HYPERTENSION_OR_PREDIABETES
        and date.fromisoformat(row["START"][:10]) <= AS_OF
        and (not row["STOP"] or date.fromisoformat(row["STOP"][:10]) >= AS_OF)
    }
    contacts: dict[str, tuple[str | None, str]] = {}
    for row in _rows(SAMPLE / "cdp-nebraska" / "contacts.csv"):
        email = _usable(row["email"]) or contacts.get(row["patient_id"], (None, ""))[0]
        contacts[row["patient_id"]] = (email, row["email_opt_in"].strip().lower())
    return {
        contacts[pid][0]
        for pid in alive_adults & with_condition
        if pid in contacts and contacts[pid][0] and contacts[pid][1] != "no"
    }


def caught_messages(app):
    with app.app_context():
        from core.db import new_session

        with new_session() as session:
            ring = key_ring()
            return [
                message_from_bytes(
                    ring.decrypt(m.raw, "caught_messages", "raw", m.id), policy=policy.default
                )
                for m in session.scalars(select(CaughtMessage))
            ]


@pytest.fixture
def demo_app(app_config):
    from app import create_app

    app = create_app(app_config)
    yield app
    app.extensions["sendwell.engine"].dispose()


def run_check(app) -> dict:
    result = app.test_cli_runner().invoke(args=["demo", "--check"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_demo_check_runs_the_whole_pipeline_and_is_idempotent(demo_app):
    first = run_check(demo_app)
    assert first["patients"] == 111
    assert first["smtp_tls"] is True
    assert first["messages_sent"] == first["messages_received"] > 0
    sent = first["messages_sent"]
    # the demo's readers: 6 in 10 messages opened, 3 in 10 clicked, 1 in 10 proxy-fetched
    assert first["opens"] == sum(1 for i in range(sent) if i % 10 < 6)
    assert first["clicks"] == sum(1 for i in range(sent) if i % 10 < 3)
    assert first["machine_opens"] == sum(1 for i in range(sent) if i % 10 == 9)

    messages = caught_messages(demo_app)
    recipients = expected_recipients()
    assert len(messages) == 2 * len(recipients)  # day 0 and day 3
    assert {m["To"].addresses[0].addr_spec.lower() for m in messages} == recipients
    assert all(len(m.get_all("Subject")) == 1 for m in messages)

    second = run_check(demo_app)
    assert second == first
    assert len(caught_messages(demo_app)) == len(messages)


def test_demo_leaves_no_patient_identifier_in_the_instance_folder(demo_app, tmp_path):
    run_check(demo_app)
    needles = set()
    for row in _rows(SAMPLE / "synthea-csv-nebraska" / "patients.csv"):
        needles |= {row["FIRST"], row["LAST"], row["BIRTHDATE"]}
    for row in _rows(SAMPLE / "cdp-nebraska" / "contacts.csv"):
        if row["email"].strip():
            needles |= {row["email"].strip(), row["email"].strip().lower()}
    needles = {n.encode() for n in needles if len(n) >= 5}
    files = [p for p in tmp_path.rglob("*") if p.is_file()]  # instance/ and the test database
    if demo_app.config["DATABASE_URL"].startswith("sqlite"):
        assert any(p.suffix == ".db" and p.stat().st_size > 100_000 for p in files)
    for path in files:
        data = path.read_bytes()
        leaked = [n for n in needles if n in data]
        assert not leaked, f"{path.name} holds {len(leaked)} sample identifiers"
