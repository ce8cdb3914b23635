"""Step-up: a fresh passkey assertion within five minutes before sensitive actions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from auth import permissions
from auth.models import StaffSession
from auth.stepup import require_recent_assertion, safe_next
from core.clock import utcnow
from core.models import AuditEvent
from tests.auth.authenticator import SoftAuthenticator, b64url
from tests.auth.ceremony import csrf_from, invite, post_json, register, sign_in


@pytest.fixture(autouse=True)
def sensitive_route(app, monkeypatch):
    """A stand-in for "export PHI": GET page and JSON POST, both needing a step-up."""
    @require_recent_assertion()
    def sensitive():
        return {"exported": True}

    app.add_url_rule("/_test/sensitive", "test_sensitive", sensitive, methods=["GET", "POST"])
    monkeypatch.setitem(permissions.ROUTE_PERMISSIONS, "test_sensitive", permissions.SIGNED_IN)


def age_step_up(session, minutes: int) -> None:
    session.execute(update(StaffSession).values(
        stepped_up_at=utcnow() - timedelta(minutes=minutes)))
    session.commit()


def step_up(client, authenticator, **tamper):
    csrf = csrf_from(client, "/auth/step-up?next=/_test/sensitive")
    options = post_json(client, "/auth/step-up/options", csrf)
    assert options.status_code == 200, options.get_data(as_text=True)
    credential = authenticator.get(options.get_json(), **tamper)
    return post_json(client, "/auth/step-up/verify?next=/_test/sensitive", csrf, credential)


def test_passkey_sign_in_counts_as_a_recent_assertion(client, enrolled):
    assert sign_in(client, enrolled).status_code == 200
    response = client.get("/_test/sensitive")
    assert (response.status_code, response.get_json()) == (200, {"exported": True})


def test_protected_route_refuses_without_recent_step_up_and_accepts_after(
        client, enrolled, session):
    assert sign_in(client, enrolled).status_code == 200
    age_step_up(session, 6)

    page = client.get("/_test/sensitive")
    assert page.status_code == 302
    assert page.headers["Location"] == "/auth/step-up?next=/_test/sensitive"
    csrf = csrf_from(client, "/auth/step-up")
    api = client.post("/_test/sensitive", json={}, headers={
        "X-CSRFToken": csrf, "Accept": "application/json"})
    assert api.status_code == 401
    assert api.get_json() == {
        "error": "Confirm it is you with your passkey, then try again.",
        "step_up_url": "/auth/step-up?next=/",
    }

    before = client.get_cookie("sendwell").value
    response = step_up(client, enrolled)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"redirect": "/_test/sensitive"}
    assert client.get_cookie("sendwell").value != before  # rotated at step-up
    assert client.get("/_test/sensitive").get_json() == {"exported": True}
    stepped = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.stepped_up")).one()
    assert stepped.actor == "admin@example.org"


def test_old_cookie_stops_working_after_step_up_rotation(app, client, enrolled, session):
    assert sign_in(client, enrolled).status_code == 200
    before = client.get_cookie("sendwell").value
    assert step_up(client, enrolled).status_code == 200
    stale = app.test_client()
    stale.set_cookie("sendwell", before)
    assert stale.get("/").status_code == 302


def test_step_up_options_list_only_the_users_passkeys(client, enrolled):
    assert sign_in(client, enrolled).status_code == 200
    csrf = csrf_from(client, "/auth/step-up")
    options = post_json(client, "/auth/step-up/options", csrf).get_json()
    assert [c["id"] for c in options["allowCredentials"]] == [b64url(enrolled.credential_id)]
    assert options["userVerification"] == "required"


def test_step_up_with_another_users_passkey_is_refused(app, runner, client, enrolled,
                                                       session):
    other = SoftAuthenticator(origin=app.config["RP_ORIGIN"])
    token = invite(runner, "marketer@example.org", role="marketer")
    assert register(app.test_client(), token, other).status_code == 200
    assert sign_in(client, enrolled).status_code == 200
    age_step_up(session, 6)
    response = step_up(client, other)
    assert response.status_code == 400
    assert client.get("/_test/sensitive").status_code == 302
    reasons = [json.loads(e.details)["reason"] for e in session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.step_up_refused"))]
    assert reasons == ["credential_of_another_user"]


def test_step_up_without_user_verification_is_refused(client, enrolled, session):
    assert sign_in(client, enrolled).status_code == 200
    age_step_up(session, 6)
    assert step_up(client, enrolled, uv=False).status_code == 400
    assert client.get("/_test/sensitive").status_code == 302


def test_step_up_challenge_is_bound_to_its_session(app, enrolled, session):
    first, second = app.test_client(), app.test_client()
    assert sign_in(first, enrolled).status_code == 200
    assert sign_in(second, enrolled).status_code == 200
    age_step_up(session, 6)
    csrf = csrf_from(first, "/auth/step-up")
    options = post_json(first, "/auth/step-up/options", csrf).get_json()
    # the second session presents the first session's challenge id (Flask cookie copied)
    second.set_cookie("session", first.get_cookie("session").value)
    response = post_json(second, "/auth/step-up/verify", csrf, enrolled.get(options))
    assert response.status_code == 400
    reasons = [json.loads(e.details)["reason"] for e in session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.step_up_refused"))]
    assert reasons == ["challenge_session_mismatch"]


def test_step_up_endpoints_need_a_signed_in_user(client):
    assert client.get("/auth/step-up").headers["Location"] == "/auth/login"
    csrf = csrf_from(client, "/auth/login")
    response = client.post("/auth/step-up/options", json={}, headers={
        "X-CSRFToken": csrf, "Accept": "application/json"})
    assert response.status_code == 401


@pytest.mark.parametrize("target, expected", [
    ("/segments/?q=1", "/segments/?q=1"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("segments", "/"),
    ("", "/"),
    (None, "/"),
])
def test_safe_next_accepts_only_relative_paths(app, target, expected):
    with app.test_request_context("/"):
        assert safe_next(target) == expected
