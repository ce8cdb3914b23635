"""The encrypted columnar facet snapshot: round trip, invalidation, no plaintext at rest."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.crypto import key_ring
from core.db import new_session
from patients import snapshot
from patients.consent import suppress
from patients.facets import facet_frame, frame_from_rows, suppressed_indexes
from patients.models import Patient
from patients.service import load_profile, update_patient
from patients.snapshot import FacetBlock, facet_snapshot
from tests.factories import make_patient

SAMPLE = Path(__file__).resolve().parents[2] / "sample"
SECRETS = ("Klingonese", "ZebraGoldPlan", "Pacific/Chatham", "re_engagement")


def per_row_frame(session):
    """The frame the old way: decrypt each patient's facets row by row."""
    ring, blocked = key_ring(), suppressed_indexes(session)
    rows = [(pid, ring.decrypt_json(blob, "patients", "facets_enc", pid), bidx in blocked)
            for pid, blob, bidx in session.execute(
                select(Patient.id, Patient.facets_enc, Patient.email_bidx).order_by(Patient.id))]
    return frame_from_rows(rows)


@pytest.fixture
def varied(session):
    make_patient(session, conditions=[
        "hypertension",
        {"group": "prediabetes", "onset": date(2019, 2, 3), "abated": date(2022, 1, 1)},
    ], risk_flags=["smoker", "hypertension"], traits={"plan": "gold", "visits": 3})
    make_patient(session, sex="M", email=None, timezone=None, language="", zip="",
                 lifecycle_stage="re_engagement", last_visit=date(2021, 7, 9))
    make_patient(session, deceased=True, birth_date=date(1931, 1, 1), state="TX",
                 marketing_authorized_at="2023-04-05T10:00:00Z")
    make_patient(session, suppressed=True, sex="other", risk_flags=["obesity"])
    make_patient(session, birth_date="", state="Atlantis", traits={"tags": ["a", "b"]})
    session.flush()


@pytest.mark.parametrize("block_rows", [50_000, 2])
def test_snapshot_round_trip_equals_per_row_facets(session, varied, monkeypatch, block_rows):
    monkeypatch.setattr(snapshot, "BLOCK_ROWS", block_rows)
    frame, expected = facet_frame(session), per_row_frame(session)
    assert list(frame.columns) == list(expected.columns)
    assert frame.index.name == "patient_id" and list(frame.index) == list(expected.index)
    assert frame.to_dict("index") == expected.to_dict("index")
    assert frame.dtypes.to_dict() == expected.dtypes.to_dict()
    blocks = session.scalar(select(func.count()).select_from(FacetBlock))
    assert blocks == (1 if block_rows > 5 else 3)


def test_snapshot_columns_hold_long_tables(session, varied):
    snap = facet_snapshot(session)
    conditions = snap.condition_table()
    assert sorted(map(str, conditions["slug"])) == ["hypertension", "prediabetes"]
    abated = conditions[conditions["slug"] == "prediabetes"]["end"].iloc[0]
    assert abated == (date(2022, 1, 1) - date(1970, 1, 1)).days
    assert sorted(map(str, snap.flag_table()["slug"])) == ["hypertension", "obesity", "smoker"]
    assert snap.dates("birth_date").isna().sum() == 1


def test_snapshot_is_reused_until_data_changes(session, varied):
    first = facet_snapshot(session)
    assert facet_snapshot(session) is first
    patient = make_patient(session, sex="M")
    second = facet_snapshot(session)
    assert second.generation != first.generation
    assert second.frame.loc[patient.id, "sex"] == "M"


def test_patient_update_invalidates_snapshot(session, varied):
    patient = make_patient(session, lifecycle_stage="onboarding")
    session.commit()
    assert facet_frame(session).loc[patient.id, "lifecycle_stage"] == "onboarding"
    facets = facet_frame(session).loc[patient.id].to_dict()
    facets.update(lifecycle_stage="follow_up", birth_date="1980-05-17", last_visit=None,
                  marketing_authorized_at=None)
    update_patient(session, patient, load_profile(session, patient.id), facets)
    assert facet_frame(session).loc[patient.id, "lifecycle_stage"] == "follow_up"


def test_change_committed_by_another_session_is_seen(app, session, varied):
    before = facet_snapshot(session)
    session.commit()  # the rebuild is written in the reader's transaction
    with new_session() as other:
        make_patient(other, first_name="Other")
        other.commit()
    session.rollback()  # end the reader's transaction, as a new request would
    after = facet_snapshot(session)
    assert after.generation != before.generation
    assert len(after.frame) == len(before.frame) + 1


def test_suppression_applies_without_rebuild(session, varied):
    patient = make_patient(session, email="someone@example.org")
    first = facet_snapshot(session)
    assert not first.frame.loc[patient.id, "suppressed"]
    suppress(session, "someone@example.org", "test")
    second = facet_snapshot(session)
    assert second.generation == first.generation
    assert second.frame.loc[patient.id, "suppressed"]


def test_rollback_discards_pending_changes(session, varied):
    generation = facet_snapshot(session).generation
    session.commit()
    make_patient(session)
    session.rollback()
    assert facet_snapshot(session).generation == generation


def test_import_invalidates_snapshot(session):
    from cdp.service import import_paths

    assert len(facet_frame(session)) == 0
    report = import_paths(session, [SAMPLE / "cdp-nebraska" / "contacts.csv"],
                          as_of="2023-12-31")
    session.commit()
    frame = facet_frame(session)
    assert report["status"] == "completed"
    assert len(frame) == report["inserted"] > 0
    assert frame.to_dict("index") == per_row_frame(session).to_dict("index")


def test_no_plaintext_facets_in_the_sqlite_file(app, session):
    if not app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("greps the SQLite file")
    make_patient(session, language="Klingonese", timezone="Pacific/Chatham",
                 traits={"plan": "ZebraGoldPlan"}, lifecycle_stage="re_engagement",
                 conditions=["prediabetes"])
    session.commit()
    facet_frame(session)
    session.commit()
    assert session.scalar(select(func.count()).select_from(FacetBlock)) == 1
    session.close()
    app.extensions["sendwell.engine"].dispose()
    path = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for secret in SECRETS:
        assert secret.encode() not in raw, secret


def test_block_bound_to_its_row(session, varied):
    facet_frame(session)
    block = session.scalars(select(FacetBlock)).first()
    with pytest.raises(Exception, match="does not verify"):
        key_ring().decrypt(block.data_enc, "facet_blocks", "data_enc", "another-row")
