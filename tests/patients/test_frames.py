from datetime import UTC, date, datetime

import pandas as pd

from patients.events import events_frame, store_events
from patients.facets import facet_frame
from patients.service import load_profile
from tests.factories import make_event, make_patient


def test_factory_patient_defaults(session):
    patient = make_patient(session, first_name="Ana")
    frame = facet_frame(session)
    row = frame.loc[patient.id]
    assert load_profile(session, patient.id)["first_name"] == "Ana"
    assert (row.deceased, row.email_usable, row.email_opt_in) == (False, True, "yes")
    assert (row.timezone, row.sex, row.state_code, row.zip3) == ("America/Chicago", "F", "NE",
                                                                 "685")
    assert row.birth_date == date(1980, 5, 17)
    assert frame.index.name == "patient_id"


def test_factory_overrides(session):
    patient = make_patient(session, email=None, deceased=True, conditions=["prediabetes"],
                           last_visit=date(2023, 3, 1), lifecycle_stage="follow_up",
                           traits={"plan": "gold"}, timezone=None)
    row = facet_frame(session).loc[patient.id]
    assert (row.email_usable, row.deceased, row.lifecycle_stage) == (False, True, "follow_up")
    assert row.conditions == [{"group": "prediabetes", "onset": "2020-01-01", "abated": None}]
    assert row.last_visit == date(2023, 3, 1)
    assert row.traits == {"plan": "gold"}
    assert row.timezone is None


def test_events_frame_and_idempotent_store(session):
    patient = make_patient(session)
    make_event(session, patient, "Portal Login", "2023-06-03T17:35:00Z", page="home")
    event = {"patient_id": patient.id, "message_id": "m-1", "name": "Form Submitted",
             "occurred_at": datetime(2023, 7, 1, tzinfo=UTC), "properties": {}}
    assert store_events(session, [event, event]) == 1
    assert store_events(session, [event]) == 0
    frame = events_frame(session)
    assert list(frame.columns) == ["patient_id", "name", "occurred_at", "properties"]
    assert list(frame["name"]) == ["Portal Login", "Form Submitted"]
    assert frame["occurred_at"].iloc[0] == pd.Timestamp("2023-06-03T17:35:00Z")
    assert str(frame["occurred_at"].dt.tz) == "UTC"
    assert frame["properties"].iloc[0] == {"page": "home"}


def test_empty_frames_have_columns(session):
    assert list(events_frame(session).columns) == ["patient_id", "name", "occurred_at",
                                                   "properties"]
    assert len(facet_frame(session)) == 0
