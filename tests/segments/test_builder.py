"""The visual builder: its pages, the live-count API, saving, permissions, masking."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from auth.models import Role
from core.models import AuditEvent
from segments import service
from segments.live import masked
from tests.factories import make_patient
from tests.segments.web import add_test_routes, csrf_token, signed_in

HTN = {"field": "condition_group", "op": "includes", "value": "hypertension"}
WOMEN = {"field": "sex", "op": "eq", "value": "F"}
AS_OF = "2023-12-31"


@pytest.fixture
def app(app, monkeypatch):
    add_test_routes(app, monkeypatch)
    return app


@pytest.fixture
def people(session):
    for n in range(12):
        make_patient(session, sex="F" if n < 11 else "M", conditions=["hypertension"],
                     birth_date=f"{1940 + n}-01-01", lifecycle_stage="preventive",
                     email_opt_in="no" if n == 0 else "yes")
    make_patient(session, sex="M", state="Iowa", language="es")
    session.commit()


def post_count(client, token, body):
    return client.post("/segments/api/count", json=body, headers={"X-CSRFToken": token})


def test_count_api_returns_counts_summary_and_breakdown(client, session, people):
    client = signed_in(client, session, Role.MARKETER)
    response = post_count(client, csrf_token(client), {"rule": HTN, "as_of": AS_OF})
    assert response.status_code == 200
    data = response.get_json()
    assert (data["count"], data["reachable"]) == (12, 11)
    assert data["summary"] == "active condition group includes hypertension"
    assert data["breakdown"]["lifecycle_stage"] == {"preventive": 12}
    assert data["breakdown"]["age_band"] == {"0–17": 0, "18–34": 0, "35–49": 0,
                                             "50–64": 0, "65+": 12, "unknown": 0}


def test_count_api_masks_counts_from_one_to_ten(client, session, people):
    client = signed_in(client, session, Role.MANAGER)
    rule = {"all": [HTN, {"not": WOMEN}]}
    data = post_count(client, csrf_token(client), {"rule": rule, "as_of": AS_OF}).get_json()
    assert (data["count"], data["reachable"]) == ("<11", "<11")
    assert data["summary"] == ("(active condition group includes hypertension and not "
                               "(sex is F) (includes patients with no value))")
    assert data["breakdown"]["age_band"]["65+"] == "<11"
    assert data["breakdown"]["age_band"]["0–17"] == 0


def test_masked_keeps_zero_and_eleven():
    result = {"count": 11, "reachable": 10, "summary": "x",
              "breakdown": {"age_band": {"0–17": 0, "65+": 1}}}
    assert masked(result) == {"count": 11, "reachable": "<11", "summary": "x",
                              "breakdown": {"age_band": {"0–17": 0, "65+": "<11"}}}


@pytest.mark.parametrize(("rule", "path"), [
    ({"all": [{"field": "sex", "op": "like", "value": "F"}]}, "$.all[0].op"),
    ({"any": [HTN, {"field": "age", "op": "gt", "value": "old"}]}, "$.any[1].value"),
    ({"all": []}, "$.all"),
])
def test_count_api_refuses_invalid_rule_with_its_path(client, session, people, rule, path):
    client = signed_in(client, session, Role.ADMIN)
    response = post_count(client, csrf_token(client), {"rule": rule})
    assert response.status_code == 400
    assert response.get_json()["path"] == path
    assert response.get_json()["error"].startswith(path)


def test_count_api_refuses_a_body_without_rule(client, session):
    client = signed_in(client, session, Role.ADMIN)
    response = post_count(client, csrf_token(client), {"rules": HTN})
    assert response.status_code == 400 and response.get_json()["path"] == "$"


def test_count_api_refuses_a_bad_as_of(client, session):
    client = signed_in(client, session, Role.ADMIN)
    response = post_count(client, csrf_token(client), {"rule": HTN, "as_of": "2023-13-40"})
    assert response.status_code == 400
    assert "as_of" in response.get_json()["error"]


def test_count_api_requires_csrf_token(client, session, people):
    client = signed_in(client, session, Role.MARKETER)
    response = client.post("/segments/api/count", json={"rule": HTN})
    assert response.status_code == 400
    assert actions(session) == []


def test_count_api_requires_sign_in(client, session, people):
    token = csrf_token(client, "/auth/login")
    response = post_count(client, token, {"rule": HTN})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def actions(session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.like("segments.%")).order_by(AuditEvent.id)))


@pytest.mark.parametrize("role", list(Role))
def test_every_role_may_count_and_counts_are_audited(client, session, people, role):
    client = signed_in(client, session, role)
    assert post_count(client, csrf_token(client), {"rule": HTN, "as_of": AS_OF}).status_code == 200
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "segments.count")).one()
    assert event.target == "builder"
    assert '"count": 12' in event.details and "patient" not in event.details


@pytest.mark.parametrize(("role", "status"), [
    (Role.ADMIN, 200), (Role.MARKETER, 200), (Role.MANAGER, 403), (Role.COMPLIANCE, 403)])
def test_builder_page_is_for_marketers_and_admins(client, session, role, status):
    assert signed_in(client, session, role).get("/segments/new").status_code == status


def test_builder_page_has_no_inline_script_and_labelled_controls(client, session, people):
    html = signed_in(client, session, Role.MARKETER).get("/segments/new").get_data(as_text=True)
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all("src=" in tag for tag in scripts)
    assert "/static/js/segments.js" in html
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert "javascript:" not in html
    for control in ("segment-name", "segment-description", "rule-json"):
        assert f'<label for="{control}">' in html
    assert 'data-count-url="/segments/api/count"' in html
    assert "&#34;hypertension&#34;" in html or "hypertension" in html
    assert "Iowa" in html and "Nebraska" in html  # states present in the data


def test_create_segment_from_builder_form(client, session, people):
    client = signed_in(client, session, Role.MARKETER)
    token = csrf_token(client, "/segments/new")
    response = client.post("/segments/new", data={
        "csrf_token": token, "name": "htn women", "description": "d",
        "rule": '{"all": [{"field": "condition_group", "op": "includes", '
                '"value": "hypertension"}, {"field": "sex", "op": "eq", "value": "f"}]}'})
    assert response.status_code == 302
    segment = service.get_segment(session, "htn women")
    assert segment.rule["all"][1] == WOMEN
    assert response.headers["Location"].endswith(f"/segments/{segment.id}")
    assert actions(session)[-1] == "segments.create"


def test_create_refuses_bad_rule_and_keeps_the_input(client, session, people):
    client = signed_in(client, session, Role.MARKETER)
    token = csrf_token(client, "/segments/new")
    response = client.post("/segments/new", data={
        "csrf_token": token, "name": "bad", "rule": '{"all": [{"field": "sex", "op": "x"}]}'})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "$.all[0].op" in html and 'value="bad"' in html
    assert service.list_segments(session) == []


def test_create_refuses_a_taken_name(client, session, people):
    service.create_segment(session, "htn", HTN)
    session.commit()
    client = signed_in(client, session, Role.ADMIN)
    response = client.post("/segments/new", data={
        "csrf_token": csrf_token(client, "/segments/new"), "name": "htn",
        "rule": '{"field": "sex", "op": "eq", "value": "M"}'})
    assert response.status_code == 400
    assert "already has that name" in response.get_data(as_text=True)
    assert service.get_segment(session, "htn").rule == HTN


def test_update_segment_from_detail_page(client, session, people):
    segment = service.create_segment(session, "htn", HTN)
    session.commit()
    client = signed_in(client, session, Role.MARKETER)
    page = client.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert 'id="rule-builder"' in page
    response = client.post(f"/segments/{segment.id}", data={
        "csrf_token": csrf_token(client), "name": "htn renamed", "description": "",
        "rule": '{"any": [{"field": "sex", "op": "eq", "value": "M"}]}'})
    assert response.status_code == 302
    session.expire_all()
    assert service.get_segment_by_id(session, segment.id).name == "htn renamed"
    assert actions(session)[-1] == "segments.update"


def test_viewers_see_detail_without_builder_and_cannot_save(client, session, people):
    segment = service.create_segment(session, "htn", HTN)
    session.commit()
    client = signed_in(client, session, Role.COMPLIANCE)
    page = client.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert 'id="rule-builder"' not in page
    response = client.post(f"/segments/{segment.id}", data={
        "csrf_token": csrf_token(client), "name": "x", "rule": "{}"})
    assert response.status_code == 403
