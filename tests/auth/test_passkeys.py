"""Passkey enrolment and sign-in through the real endpoints, with a software authenticator."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from auth.models import EnrollmentLink, Passkey, StaffSession, User, WebAuthnChallenge
from core.clock import utcnow
from core.models import AuditEvent
from tests.auth.authenticator import b64url
from tests.auth.ceremony import (
    csrf_from,
    invite,
    login_options,
    post_json,
    register,
    sign_in,
    sign_out,
)


def latest_session(session) -> StaffSession:
    return session.scalars(
        select(StaffSession).order_by(StaffSession.created_at.desc()).limit(1)
    ).one()


def actions(session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_enrolment_registers_passkey_and_signs_in(client, runner, session, authenticator):
    token = invite(runner, "Admin@Example.org")
    response = register(client, token, authenticator)
    assert response.status_code == 200
    assert response.get_json() == {"redirect": "/"}
    passkey = session.scalars(select(Passkey)).one()
    user = session.get(User, passkey.user_id)
    assert (user.email, user.role) == ("admin@example.org", "admin")
    assert passkey.credential_id == authenticator.credential_id
    assert session.scalars(select(EnrollmentLink.used_at)).one() is not None
    assert client.get("/").status_code == 200
    assert "auth.passkey_registered" in actions(session)


def test_registration_options_require_uv_and_prefer_resident_keys(app, client, runner):
    token = invite(runner)
    csrf = csrf_from(client, f"/auth/enroll/{token}")
    options = post_json(client, f"/auth/enroll/{token}/options", csrf).get_json()
    assert options["rp"] == {"id": "localhost", "name": "Sendwell"}
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["user"]["name"] == "admin@example.org"
    assert options["excludeCredentials"] == []


def test_rp_settings_come_from_config_not_the_request(app, client, runner):
    app.config.update(RP_ID="sendwell.example.org", RP_NAME="Clinic Mail")
    token = invite(runner)
    csrf = csrf_from(client, f"/auth/enroll/{token}")
    options = client.post(
        f"/auth/enroll/{token}/options", json={},
        headers={"X-CSRFToken": csrf, "Origin": "http://evil.example"},
    ).get_json()
    assert options["rp"] == {"id": "sendwell.example.org", "name": "Clinic Mail"}


def test_second_enrolment_excludes_existing_credentials(client, runner, enrolled):
    token = invite(runner)
    csrf = csrf_from(client, f"/auth/enroll/{token}")
    options = post_json(client, f"/auth/enroll/{token}/options", csrf).get_json()
    assert [c["id"] for c in options["excludeCredentials"]] == [b64url(enrolled.credential_id)]


def test_same_credential_cannot_be_registered_twice(client, runner, enrolled, session):
    token = invite(runner)
    response = register(client, token, enrolled)
    assert response.status_code == 400
    assert response.get_json() == {"error": "This passkey is already registered."}
    assert len(session.scalars(select(Passkey)).all()) == 1


def test_sign_in_with_passkey_reaches_dashboard(client, enrolled, session):
    response = sign_in(client, enrolled)
    assert response.status_code == 200
    assert response.get_json() == {"redirect": "/"}
    assert client.get("/").status_code == 200
    assert session.scalars(select(Passkey.sign_count)).one() == 1
    assert session.scalars(select(Passkey.last_used_at)).one() is not None
    signed_in = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.signed_in")
    ).all()
    assert [e.actor for e in signed_in] == ["admin@example.org", "admin@example.org"]


def test_sign_in_options_require_uv(client):
    _csrf, options = login_options(client)
    assert options["userVerification"] == "required"
    assert options["rpId"] == "localhost"
    assert options["allowCredentials"] == []


def test_sign_in_rotates_the_session(client, enrolled):
    with client.session_transaction() as before:
        before["planted"] = "fixation"
    assert sign_in(client, enrolled).status_code == 200
    with client.session_transaction() as after:
        assert "planted" not in after
        assert after["_user_id"]


def test_sign_in_consumes_the_challenge(client, enrolled, session):
    assert sign_in(client, enrolled).status_code == 200
    assert session.scalars(select(WebAuthnChallenge)).all() == []


def test_counter_increases_across_sign_ins(app, enrolled, session):
    for expected in (1, 2, 3):
        fresh = app.test_client()
        assert sign_in(fresh, enrolled).status_code == 200
        session.expire_all()
        assert session.scalars(select(Passkey.sign_count)).one() == expected


def test_authenticator_without_counter_is_accepted(client, enrolled):
    assert sign_in(client, enrolled, sign_count=0).status_code == 200


def test_logout_ends_the_session(client, enrolled, session):
    assert sign_in(client, enrolled).status_code == 200
    response = sign_out(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"
    assert client.get("/").headers["Location"] == "/auth/login"
    assert "auth.signed_out" in actions(session)


def test_idle_session_times_out(app, client, enrolled, session):
    assert sign_in(client, enrolled).status_code == 200
    idle = app.config["SESSION_IDLE_MINUTES"] + 1
    session.execute(update(StaffSession).values(last_seen_at=utcnow() - timedelta(minutes=idle)))
    session.commit()
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"
    session.expire_all()
    assert latest_session(session).revoked_reason == "idle_timeout"


def test_active_session_within_idle_limit_continues(app, client, enrolled, session):
    assert sign_in(client, enrolled).status_code == 200
    idle = app.config["SESSION_IDLE_MINUTES"] - 1
    session.execute(update(StaffSession).values(last_seen_at=utcnow() - timedelta(minutes=idle)))
    session.commit()
    assert client.get("/").status_code == 200
    session.expire_all()
    seen = latest_session(session).last_seen_at
    assert utcnow() - seen < timedelta(seconds=30)  # the visit was recorded


def test_absolute_session_limit(app, client, enrolled, session):
    assert sign_in(client, enrolled).status_code == 200
    hours = app.config["SESSION_ABSOLUTE_HOURS"] + 1
    row = latest_session(session)
    session.execute(update(StaffSession).where(StaffSession.id == row.id).values(
        created_at=utcnow() - timedelta(hours=hours)))
    session.commit()
    assert client.get("/").status_code == 302
    session.refresh(row)
    assert row.revoked_reason == "absolute_timeout"


def test_disabled_user_cannot_sign_in(client, enrolled, session):
    session.scalars(select(User)).one().active = False
    session.commit()
    response = sign_in(client, enrolled)
    assert response.status_code == 400
    assert response.get_json() == {"error": "This account is disabled."}


def test_signed_in_user_visiting_login_goes_to_dashboard(client, enrolled):
    assert sign_in(client, enrolled).status_code == 200
    response = client.get("/auth/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_page_has_no_inline_script(client):
    html = client.get("/auth/login").get_data(as_text=True)
    assert '<script src="/static/js/webauthn.js" defer></script>' in html
    assert "<script>" not in html and "onclick" not in html
    assert 'id="webauthn-start"' in html and 'type="button"' in html


def test_verify_without_csrf_token_is_refused(client, enrolled):
    _csrf, options = login_options(client)
    response = client.post("/auth/login/verify", json=enrolled.get(options))
    assert response.status_code == 400
    assert client.get("/").status_code == 302

