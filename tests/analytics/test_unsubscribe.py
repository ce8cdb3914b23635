"""B28: unsubscribe links. GET/HEAD only confirm; the RFC 8058 one-click POST works with
no cookie or CSRF token and any body, idempotently; a bad token changes nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from analytics.models import EngagementEvent
from core.models import AuditEvent
from patients.consent import is_suppressed
from patients.models import Suppression
from tests.analytics.builders import send_message
from tests.conftest import CASES
from tests.factories import make_patient

CASE = json.loads((CASES / "B28-unsubscribe-requests.json").read_text())
STEPS = {step["id"]: step for step in CASE["requests_in_order"]}
EMAIL = "s1@example.com"


def _unsubscribes(session) -> int:
    session.expire_all()
    return session.scalar(
        select(func.count()).select_from(EngagementEvent)
        .where(EngagementEvent.kind == "unsubscribe")
    )


def _subscriber(session, email=EMAIL):
    sent = send_message(session, patient=make_patient(session, email=email))
    session.commit()
    return sent


def test_get_and_head_only_show_the_confirmation(session, no_cookie_client):
    sent = _subscriber(session)
    page = no_cookie_client.get(f"/u/{sent.unsubscribe_token}", headers=STEPS[1]["headers"])
    assert page.status_code == STEPS[1]["expected_status"]
    assert b"Unsubscribe from these emails?" in page.data
    assert f'action="/u/{sent.unsubscribe_token}"'.encode() in page.data
    head = no_cookie_client.head(f"/u/{sent.unsubscribe_token}")
    assert head.status_code == 200
    assert not is_suppressed(session, EMAIL)
    assert _unsubscribes(session) == 0


def test_one_click_post_without_cookie_or_csrf_unsubscribes_once(session, no_cookie_client):
    sent = _subscriber(session)
    url = f"/u/{sent.unsubscribe_token}"
    for step in (STEPS[3], STEPS[4]):
        response = no_cookie_client.post(
            url, data=step["body"], content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code in (200, 202)
        assert "Location" not in response.headers
        assert b"You are unsubscribed" in response.data
        assert is_suppressed(session, EMAIL)
    assert _unsubscribes(session) == 1
    actions = session.scalars(select(AuditEvent.action)).all()
    assert actions.count("consent.unsubscribe") == 1
    again = no_cookie_client.get(url)
    assert b"You are unsubscribed" in again.data
    assert b"<form" not in again.data


VARIANTS = CASE["variants_each_on_a_fresh_subscribed_token"][:3]


@pytest.mark.parametrize("variant", VARIANTS, ids=["empty", "text-plain", "multipart"])
def test_one_click_post_accepts_any_body_type(session, no_cookie_client, variant):
    sent = _subscriber(session, email="s2@example.com")
    content_type = variant.get("headers", {}).get("Content-Type")
    response = no_cookie_client.post(
        f"/u/{sent.unsubscribe_token}", data=variant["body"].encode(), content_type=content_type
    )
    assert response.status_code in (200, 202)
    assert is_suppressed(session, "s2@example.com")
    assert _unsubscribes(session) == 1


@pytest.mark.parametrize("method", ["get", "head", "post"])
@pytest.mark.parametrize("token", ["NOT-A-TOKEN", "A" * 32, "%00", "x" * 400])
def test_bad_token_changes_nothing_and_never_5xx(session, no_cookie_client, method, token):
    _subscriber(session)
    response = getattr(no_cookie_client, method)(
        f"/u/{token}", data=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert 200 <= response.status_code < 500
    assert response.status_code != 302
    assert not is_suppressed(session, EMAIL)
    assert session.scalar(select(func.count()).select_from(Suppression)) == 0
    assert session.scalar(select(func.count()).select_from(EngagementEvent)) == 0


def test_unsubscribe_pages_never_show_the_address(session, no_cookie_client):
    sent = _subscriber(session)
    url = f"/u/{sent.unsubscribe_token}"
    for response in (no_cookie_client.get(url), no_cookie_client.post(url)):
        assert EMAIL.encode() not in response.data
