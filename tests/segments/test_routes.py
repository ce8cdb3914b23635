"""Segment pages: live counts and rule summaries for every staff role, no patient rows."""

from __future__ import annotations

import pytest

from auth.models import Role
from segments import service
from tests.factories import make_patient
from tests.segments.web import add_test_routes, signed_in


@pytest.fixture
def app(app, monkeypatch):
    add_test_routes(app, monkeypatch)
    return app


@pytest.fixture
def segment(session):
    patient = make_patient(session, sex="F", first_name="Zelda", conditions=["hypertension"])
    make_patient(session, sex="M")
    seg = service.create_segment(session, "women-htn", {"all": [
        {"field": "sex", "op": "eq", "value": "F"},
        {"field": "condition_group", "op": "includes", "value": "hypertension"},
    ]}, "women with hypertension")
    service.refresh_membership(session, seg)
    session.commit()
    return seg, patient


@pytest.mark.parametrize("role", list(Role))
def test_index_lists_segments_with_counts_for_every_role(client, session, segment, role):
    seg, patient = segment
    page = signed_in(client, session, role).get("/segments/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "women-htn" in html and "sex is F and active condition group includes" in html
    assert '<td class="num">1</td>' in html
    assert "Zelda" not in html and patient.id not in html


def test_detail_shows_counts_and_no_patient_rows(client, session, segment):
    seg, patient = segment
    page = signed_in(client, session, Role.MARKETER).get(f"/segments/{seg.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Entries recorded</th><td class=\"num\">1</td>" in html
    assert "Zelda" not in html and patient.id not in html
    assert "<script>" not in html


def test_pages_require_sign_in(client, segment):
    response = client.get("/segments/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_unknown_segment_is_not_found_for_json(client, session):
    response = signed_in(client, session, Role.ADMIN).get(
        "/segments/nope", headers={"Accept": "application/json"}
    )
    assert response.status_code == 404
    assert response.get_json() == {"error": "no such segment"}
