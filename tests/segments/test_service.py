"""Segment service on a real database: counts, saved segments, membership changes."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from core.errors import NotFound
from patients.consent import skip_reason
from patients.facets import facet_frame
from segments import service
from segments.evaluate import reachable_mask
from segments.models import SegmentChange
from segments.rules import RuleError
from segments.signals import membership_changed
from tests.factories import make_event, make_patient

AS_OF = date(2023, 12, 31)
WOMEN = {"field": "sex", "op": "eq", "value": "F"}
HTN = {"field": "condition_group", "op": "includes", "value": "hypertension"}


@pytest.fixture
def people(session):
    made = {
        "woman_htn": make_patient(session, sex="F", conditions=["hypertension"]),
        "man_htn": make_patient(session, sex="M", conditions=["hypertension"]),
        "woman_no_email": make_patient(session, sex="F", email=None),
        "woman_opted_out": make_patient(session, sex="F", email_opt_in="no"),
        "woman_suppressed": make_patient(session, sex="F", suppressed=True),
        "dead_woman": make_patient(session, sex="F", deceased=True),
    }
    make_event(session, made["man_htn"], "Appointment Missed", "2023-12-01T15:00:00Z")
    return {key: patient.id for key, patient in made.items()}


def test_count_rule_counts_members_and_reachable(session, people):
    assert service.count_rule(session, WOMEN, AS_OF) == {"count": 4, "reachable": 1}
    assert service.count_rule(session, HTN, AS_OF) == {"count": 2, "reachable": 2}


def test_count_rule_sees_events(session, people):
    rule = {"event": "Appointment Missed", "op": "count_at_least", "value": 1,
            "within_days": 90}
    assert service.count_rule(session, rule, AS_OF) == {"count": 1, "reachable": 1}


def test_count_rule_refuses_a_bad_rule(session, people):
    with pytest.raises(RuleError, match=r"\$\.op"):
        service.count_rule(session, {"field": "sex", "op": "like", "value": "F"}, AS_OF)


def test_reachable_mask_agrees_with_skip_reason(session, people):
    frame = facet_frame(session)
    mask = reachable_mask(frame)
    for patient_id, row in frame.iterrows():
        expected = skip_reason(row.to_dict(), "care_reminder", AS_OF) is None
        assert bool(mask[patient_id]) is expected, patient_id


def test_create_segment_upserts_by_name(session):
    first = service.create_segment(session, " women ", WOMEN, "all women")
    again = service.create_segment(session, "women", {"field": "sex", "op": "eq", "value": "f"})
    assert again.id == first.id
    assert service.get_segment(session, "women").rule == WOMEN
    assert again.description == ""


def test_create_segment_refuses_unknown_and_cyclic_references(session):
    with pytest.raises(RuleError, match="does not exist"):
        service.create_segment(session, "a", {"segment": "missing"})
    service.create_segment(session, "a", WOMEN)
    service.create_segment(session, "b", {"segment": "a"})
    with pytest.raises(RuleError, match="refer to itself"):
        service.create_segment(session, "a", {"not": {"segment": "b"}})
    with pytest.raises(RuleError, match="refer to itself"):
        service.create_segment(session, "c", {"segment": "c"})


def test_get_segment_raises_not_found(session):
    with pytest.raises(NotFound):
        service.get_segment(session, "nope")


def test_refresh_membership_records_entries_and_exits(session, people):
    segment = service.create_segment(session, "htn", HTN)
    heard = []
    membership_changed.connect(lambda sender, **kw: heard.append(kw), weak=False)
    try:
        entered, exited = service.refresh_membership(session, segment, AS_OF)
        assert sorted(entered) == sorted([people["woman_htn"], people["man_htn"]])
        assert exited == []
        segment = service.create_segment(session, "htn", {"all": [HTN, WOMEN]})
        entered, exited = service.refresh_membership(session, segment, AS_OF)
    finally:
        membership_changed.receivers.clear()
    assert (entered, exited) == ([], [people["man_htn"]])
    assert service.member_ids(session, segment) == [people["woman_htn"]]
    assert service.change_counts(session, segment) == {"entered": 2, "exited": 1}
    assert len(heard) == 2 and heard[1]["exited"] == [people["man_htn"]]
    kinds = session.scalars(select(SegmentChange.change).order_by(SegmentChange.change)).all()
    assert kinds == ["entered", "entered", "exited"]


def test_refresh_membership_is_idempotent(session, people):
    segment = service.create_segment(session, "women", WOMEN)
    service.refresh_membership(session, segment, AS_OF)
    assert service.refresh_membership(session, segment, AS_OF) == ([], [])
    assert people["dead_woman"] not in service.member_ids(session, segment)
    assert len(service.member_ids(session, segment)) == 4


def test_segment_reference_resolves_saved_rule(session, people):
    service.create_segment(session, "women", WOMEN)
    rule = {"all": [{"segment": "women"}, HTN]}
    assert service.count_rule(session, rule, AS_OF) == {"count": 1, "reachable": 1}
