"""Every way a passkey ceremony must fail: each refusal leaves the client signed out."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from auth.models import Passkey, WebAuthnChallenge
from core.clock import utcnow
from core.models import AuditEvent
from tests.auth.authenticator import SoftAuthenticator
from tests.auth.ceremony import (
    csrf_from,
    forget_cookies,
    invite,
    login_options,
    post_json,
    register,
    sign_in,
)

NOT_VERIFIED = {"error": "The passkey could not be verified."}
STALE = {"error": "The sign-in request is no longer valid; please try again."}


def refusal_reasons(session, action: str = "auth.sign_in_refused") -> list[str]:
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == action))
    return [json.loads(e.details)["reason"] for e in events]


def assert_signed_out(client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"


def test_replayed_assertion_is_refused(app, client, enrolled, session):
    csrf, options = login_options(client)
    assertion = enrolled.get(options)
    replayer = app.test_client()
    replayer.set_cookie("session", client.get_cookie("session").value)
    assert post_json(client, "/auth/login/verify", csrf, assertion).status_code == 200
    replay = post_json(replayer, "/auth/login/verify", csrf, assertion)
    assert replay.status_code == 400
    assert replay.get_json() == STALE
    assert_signed_out(replayer)
    assert refusal_reasons(session) == ["challenge_reused"]


def test_assertion_replayed_against_a_new_challenge_is_refused(client, enrolled, session):
    csrf, options = login_options(client)
    assertion = enrolled.get(options)
    assert post_json(client, "/auth/login/verify", csrf, assertion).status_code == 200
    forget_cookies(client)
    csrf, _fresh = login_options(client)
    replay = post_json(client, "/auth/login/verify", csrf, assertion)
    assert replay.status_code == 400
    assert replay.get_json() == NOT_VERIFIED
    assert_signed_out(client)
    assert refusal_reasons(session) == ["assertion_invalid"]


def test_verify_without_options_is_refused(client, enrolled, session):
    csrf = csrf_from(client, "/auth/login")
    response = post_json(client, "/auth/login/verify", csrf, enrolled.get({"challenge": "AA"}))
    assert response.status_code == 400
    assert refusal_reasons(session) == ["challenge_missing"]


@pytest.mark.parametrize(
    "tamper",
    [
        {"origin": "http://evil.example"},
        {"origin": "http://localhost:5001"},
        {"rp_id": "evil.example"},
        {"uv": False},
    ],
    ids=["wrong-origin", "wrong-port", "wrong-rp-id", "no-user-verification"],
)
def test_tampered_assertion_is_refused(client, enrolled, session, tamper):
    response = sign_in(client, enrolled, **tamper)
    assert response.status_code == 400
    assert response.get_json() == NOT_VERIFIED
    assert_signed_out(client)
    assert refusal_reasons(session) == ["assertion_invalid"]
    assert session.scalars(select(WebAuthnChallenge)).all() == []  # still consumed


@pytest.mark.parametrize(
    "tamper",
    [{"origin": "http://evil.example"}, {"rp_id": "evil.example"}, {"uv": False}],
    ids=["wrong-origin", "wrong-rp-id", "no-user-verification"],
)
def test_tampered_registration_is_refused(client, runner, authenticator, session, tamper):
    token = invite(runner)
    response = register(client, token, authenticator, **tamper)
    assert response.status_code == 400
    assert response.get_json() == NOT_VERIFIED
    assert session.scalars(select(Passkey)).all() == []
    assert refusal_reasons(session, "auth.enrollment_refused") == ["registration_invalid"]
    assert client.get(f"/auth/enroll/{token}").status_code == 200  # link not spent


def test_expired_challenge_is_refused(client, enrolled, session):
    csrf, options = login_options(client)
    session.execute(
        update(WebAuthnChallenge).values(expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    response = post_json(client, "/auth/login/verify", csrf, enrolled.get(options))
    assert response.status_code == 400
    assert response.get_json() == {"error": "The sign-in request expired; please try again."}
    assert_signed_out(client)
    assert refusal_reasons(session) == ["challenge_expired"]
    assert session.scalars(select(WebAuthnChallenge)).all() == []


def test_abandoned_challenges_are_swept(client, session):
    login_options(client)
    session.execute(update(WebAuthnChallenge).values(expires_at=utcnow()))
    session.commit()
    login_options(client)
    assert len(session.scalars(select(WebAuthnChallenge)).all()) == 1


def test_challenge_lives_five_minutes(client, session):
    login_options(client)
    challenge = session.scalars(select(WebAuthnChallenge)).one()
    lifetime = challenge.expires_at - utcnow()
    assert timedelta(minutes=4, seconds=55) < lifetime <= timedelta(minutes=5)
    assert (challenge.purpose, challenge.user_id, len(challenge.challenge)) == (
        "authenticate", None, 32)


@pytest.mark.parametrize("presented", [1, 3, 5])
def test_counter_regression_is_refused_and_audited(app, client, enrolled, session, presented):
    assert sign_in(client, enrolled, sign_count=5).status_code == 200
    other = app.test_client()
    response = sign_in(other, enrolled, sign_count=presented)
    assert response.status_code == 400
    assert response.get_json() == NOT_VERIFIED
    assert_signed_out(other)
    session.expire_all()
    assert session.scalars(select(Passkey.sign_count)).one() == 5
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.counter_regression")
    ).one()
    assert event.actor == "admin@example.org"
    assert json.loads(event.details)["stored"] == 5
    assert json.loads(event.details)["presented"] == presented
    assert refusal_reasons(session) == ["counter_regression"]


def test_unknown_credential_is_refused(app, client, enrolled, session):
    stranger = SoftAuthenticator(origin=app.config["RP_ORIGIN"])
    stranger.user_handle = enrolled.user_handle  # claims to be the enrolled admin
    response = sign_in(client, stranger)
    assert response.status_code == 400
    assert response.get_json() == NOT_VERIFIED
    assert_signed_out(client)
    assert refusal_reasons(session) == ["unknown_credential"]


def test_credential_of_another_user_is_refused(app, runner, enrolled, session):
    other_client = app.test_client()
    other = SoftAuthenticator(origin=app.config["RP_ORIGIN"])
    token = invite(runner, "marketer@example.org", role="marketer")
    assert register(other_client, token, other).status_code == 200
    client = app.test_client()
    response = sign_in(client, enrolled, user_handle=other.user_handle)
    assert response.status_code == 400
    assert response.get_json() == NOT_VERIFIED
    assert_signed_out(client)
    assert refusal_reasons(session) == ["user_handle_mismatch"]


def test_assertion_signed_by_another_key_is_refused(app, client, enrolled, session):
    forger = SoftAuthenticator(origin=app.config["RP_ORIGIN"])
    forger.credential_id = enrolled.credential_id
    forger.user_handle = enrolled.user_handle
    response = sign_in(client, forger)
    assert response.status_code == 400
    assert_signed_out(client)
    assert refusal_reasons(session) == ["assertion_invalid"]


def test_malformed_credential_is_refused(client, session):
    csrf, _options = login_options(client)
    response = post_json(client, "/auth/login/verify", csrf, {"id": "x"})
    assert response.status_code == 400
    assert refusal_reasons(session) == ["assertion_malformed"]


def test_used_enrolment_link_is_refused(app, runner, authenticator, session):
    token = invite(runner)
    assert register(app.test_client(), token, authenticator).status_code == 200
    client = app.test_client()
    page = client.get(f"/auth/enroll/{token}")
    assert page.status_code == 404
    assert "This enrolment link is not valid" in page.get_data(as_text=True)
    csrf = csrf_from(client, "/auth/login")
    response = post_json(client, f"/auth/enroll/{token}/options", csrf)
    assert response.status_code == 404
    assert response.get_json()["error"].startswith("This enrolment link is not valid")
    assert session.scalars(select(WebAuthnChallenge)).all() == []


def test_challenge_of_one_link_cannot_register_through_another(app, runner, authenticator):
    first = invite(runner, "a@example.org", role="marketer")
    second = invite(runner, "b@example.org", role="manager")
    client = app.test_client()
    csrf = csrf_from(client, f"/auth/enroll/{first}")
    options = post_json(client, f"/auth/enroll/{first}/options", csrf).get_json()
    response = post_json(
        client, f"/auth/enroll/{second}/verify", csrf, authenticator.create(options)
    )
    assert response.status_code == 400
    assert response.get_json() == STALE


def test_anonymous_request_to_protected_page_redirects_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"


def test_anonymous_logout_is_not_allowed(client):
    csrf = csrf_from(client, "/auth/login")
    response = client.post("/auth/logout", data={"csrf_token": csrf})
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"
