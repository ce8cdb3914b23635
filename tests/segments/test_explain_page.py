"""The "why is this patient in this segment?" form on the segment page: admins and
compliance only, CDP id posted and never echoed, facts masked, audited; CSS is static."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from auth.models import Role
from core.models import AuditEvent
from segments import service
from tests.factories import make_event, make_patient
from tests.segments.web import add_test_routes, csrf_token, signed_in

RULE = {"all": [
    {"field": "condition_group", "op": "includes", "value": "hypertension"},
    {"field": "age", "op": "between", "value": [18, 64]},
    {"not": {"field": "last_visit", "op": "within_last", "value": {"days": 30}}},
    {"trait": "plan", "op": "eq", "value": "gold"},
]}


@pytest.fixture
def app(app, monkeypatch):
    add_test_routes(app, monkeypatch)
    return app


@pytest.fixture
def segment(session):
    patient = make_patient(session, cdp_id="CDP-7781", first_name="Zelda",
                           last_name="Quartermaine", email="zelda.q@example.org",
                           birth_date="1980-05-17", conditions=["hypertension"],
                           last_visit="2023-06-01", traits={"plan": "gold"})
    make_event(session, patient, "Portal Login", "2023-12-01T10:00:00Z")
    seg = service.create_segment(session, "htn adults", RULE)
    session.commit()
    return seg, patient


def post_explain(client, seg, cdp_id, as_of="2023-12-31", token=None):
    token = token if token is not None else csrf_token(client, f"/segments/{seg.id}")
    return client.post(f"/segments/{seg.id}/explain",
                       data={"csrf_token": token, "cdp_id": cdp_id, "as_of": as_of})


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COMPLIANCE])
def test_explain_page_shows_each_leaf_with_masked_facts(client, session, segment, role):
    seg, patient = segment
    response = post_explain(signed_in(client, session, role), seg, "CDP-7781")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "This patient is in\n      “htn adults” as of 2023-12-31." in html
    assert html.count('<span class="leaf-yes">yes</span>') == 3
    assert html.count('<span class="leaf-no">no</span>') == 1
    assert "inside “not”: no here counts as yes" in html
    assert "active groups:\n            hypertension" in html
    assert "age:\n            43" in html
    assert "last visit:\n            on file" in html  # a visit date is masked
    assert "value:\n            on file" in html  # so is an attribute's value
    for phi in ("CDP-7781", "Zelda", "Quartermaine", "zelda.q@example.org", "1980-05-17",
                "2023-06-01", "gold</li>", patient.id):
        assert phi not in html, phi
    assert not re.search(r"<style\b", html)


def test_explain_is_audited_by_internal_id(client, session, segment):
    seg, patient = segment
    post_explain(signed_in(client, session, Role.COMPLIANCE), seg, "CDP-7781")
    session.expire_all()
    rows = session.execute(select(AuditEvent.action, AuditEvent.target, AuditEvent.details)
                           .where(AuditEvent.action == "segments.explain")).all()
    assert rows == [("segments.explain", patient.id,
                     f'{{"result": true, "segment": "{seg.id}"}}')]


def test_explain_page_says_not_in_for_the_deceased(client, session, segment):
    seg, _patient = segment
    make_patient(session, cdp_id="CDP-0042", deceased=True, conditions=["hypertension"],
                 traits={"plan": "gold"})
    session.commit()
    html = post_explain(signed_in(client, session, Role.ADMIN), seg, "CDP-0042").get_data(
        as_text=True)
    assert "This patient is not in" in html
    assert "Deceased patients are never members, whatever the rule says" in html
    assert "(the rule itself matches)" in html


@pytest.mark.parametrize(("cdp_id", "as_of", "status", "message"), [
    ("CDP-UNKNOWN", "2023-12-31", 404, "no patient with that CDP id"),
    ("  ", "2023-12-31", 400, "enter the patient&#39;s CDP id"),
    ("CDP-7781", "31/12/2023", 400, "as_of: must be an ISO date (YYYY-MM-DD)"),
    ("CDP-7781", "0001-01-01", 400, "as_of: must be a date from 1900-01-01 to 2199-12-31"),
])
def test_explain_page_reports_bad_input_without_echoing_it(client, session, segment, cdp_id,
                                                           as_of, status, message):
    seg, _patient = segment
    response = post_explain(signed_in(client, session, Role.ADMIN), seg, cdp_id, as_of)
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert f'<p class="flash flash-error" role="alert">{message}</p>' in html
    assert "CDP-UNKNOWN" not in html and "CDP-7781" not in html


@pytest.mark.parametrize("role", [Role.MARKETER, Role.MANAGER])
def test_explain_is_for_admins_and_compliance_only(client, session, segment, role):
    seg, _patient = segment
    client = signed_in(client, session, role)
    page = client.get(f"/segments/{seg.id}").get_data(as_text=True)
    assert 'name="cdp_id"' not in page
    assert post_explain(client, seg, "CDP-7781").status_code == 403
    session.expire_all()
    assert not session.scalars(select(AuditEvent).where(
        AuditEvent.action == "segments.explain")).all()


def test_explain_form_is_labelled_and_posts_with_csrf(client, session, segment):
    seg, _patient = segment
    client = signed_in(client, session, Role.COMPLIANCE)
    html = client.get(f"/segments/{seg.id}").get_data(as_text=True)
    assert f'action="/segments/{seg.id}/explain"' in html and 'method="post"' in html
    assert '<label for="explain-cdp-id">' in html and '<label for="explain-as-of">' in html
    assert 'name="csrf_token"' in html
    assert post_explain(client, seg, "CDP-7781", token="").status_code == 400


@pytest.mark.parametrize("path", ["/segments/new", "DETAIL"])
def test_builder_css_is_a_static_file(client, session, segment, path):
    seg, _patient = segment
    client = signed_in(client, session, Role.ADMIN)
    html = client.get(f"/segments/{seg.id}" if path == "DETAIL" else path).get_data(
        as_text=True)
    assert not re.search(r"<style\b", html) and not re.search(r'\sstyle="', html)
    assert '<link rel="stylesheet" href="/static/css/segments.css">' in html
    css = client.get("/static/css/segments.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert b".rb-group {" in css.data and b".leaf-yes {" in css.data
    css.close()
