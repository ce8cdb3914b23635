"""Server-side staff sessions: the cookie, rotation, sign-out, deactivation."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from auth.models import Role, StaffSession, User
from auth.server_sessions import ip_prefix, user_agent_class
from core.models import AuditEvent
from tests.auth.ceremony import sign_in, sign_out
from tests.web import allow_test_sign_in, sign_in_as

CHROME_LINUX = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/120.0.0.0 Safari/537.36")


def sessions_of(session, user_id: str | None = None) -> list[StaffSession]:
    query = select(StaffSession).order_by(StaffSession.created_at)
    if user_id:
        query = query.where(StaffSession.user_id == user_id)
    session.expire_all()
    return list(session.scalars(query))


def set_cookie_header(response) -> str:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("sendwell=")]
    return header


def test_cookie_carries_only_a_random_id_whose_hash_is_stored(client, enrolled, session):
    response = sign_in(client, enrolled)
    assert response.status_code == 200
    token = client.get_cookie("sendwell").value
    assert len(token) == 43  # 256 bits, base64url
    row = sessions_of(session)[-1]
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.user_id not in token and "admin" not in token
    assert (row.revoked_at, row.stepped_up_at is not None) == (None, True)


def test_development_cookie_is_httponly_lax_without_secure(client, enrolled):
    header = set_cookie_header(sign_in(client, enrolled))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Secure" not in header and "Domain" not in header


def test_https_uses_a_host_prefixed_secure_cookie(app, monkeypatch, session):
    app.config["BASE_URL"] = "https://sendwell.example.org"
    allow_test_sign_in(app, monkeypatch)
    client = app.test_client()
    user = sign_in_as(client, session, Role.MARKETER)
    cookie = client.get_cookie("__Host-sendwell", domain="localhost")
    assert cookie is not None and cookie.secure and cookie.http_only
    assert cookie.path == "/" and cookie.same_site == "Lax"
    assert client.get_cookie("sendwell") is None
    assert sessions_of(session, user.id)[0].token_hash == hashlib.sha256(
        cookie.value.encode()).hexdigest()


def test_sign_in_issues_a_fresh_id_whatever_cookie_was_planted(client, enrolled, session):
    client.set_cookie("sendwell", "planted-by-an-attacker")
    assert sign_in(client, enrolled).status_code == 200
    token = client.get_cookie("sendwell").value
    assert token != "planted-by-an-attacker"
    assert sessions_of(session)[-1].token_hash == hashlib.sha256(token.encode()).hexdigest()


def test_signing_in_again_revokes_the_previous_session(app, monkeypatch, session):
    allow_test_sign_in(app, monkeypatch)
    client = app.test_client()
    user = sign_in_as(client, session, Role.MARKETER)
    first = client.get_cookie("sendwell").value
    sign_in_as(client, session, Role.MARKETER)
    assert client.get_cookie("sendwell").value != first
    assert [r.revoked_reason for r in sessions_of(session, user.id)] == ["replaced", None]


def test_session_records_user_agent_class_and_network_not_address(app, enrolled, session):
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR="203.0.113.77", HTTP_USER_AGENT=CHROME_LINUX)
    assert sign_in(client, enrolled).status_code == 200
    row = sessions_of(session)[-1]
    assert (row.user_agent_class, row.ip_prefix) == ("chrome/linux", "203.0.113.0/24")


@pytest.mark.parametrize("agent, expected", [
    (CHROME_LINUX, "chrome/linux"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
     "firefox/windows"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "safari/ios"),
    ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 Edg/120.0",
     "edge/windows"),
    ("curl/8.4.0", "other/other"),
    ("", "other/other"),
])
def test_user_agent_class(agent, expected):
    assert user_agent_class(agent) == expected


@pytest.mark.parametrize("address, expected", [
    ("198.51.100.23", "198.51.100.0/24"),
    ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
    ("not-an-ip", ""),
    (None, ""),
])
def test_ip_prefix(address, expected):
    assert ip_prefix(address) == expected


def test_sign_out_revokes_the_session_so_a_copied_cookie_is_useless(app, client, enrolled,
                                                                     session):
    assert sign_in(client, enrolled).status_code == 200
    stolen = client.get_cookie("sendwell").value
    assert sign_out(client).status_code == 302
    assert sessions_of(session)[-1].revoked_reason == "signed_out"
    thief = app.test_client()
    thief.set_cookie("sendwell", stolen)
    response = thief.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"


def test_unknown_cookie_is_removed(client):
    client.set_cookie("sendwell", "x" * 43)
    response = client.get("/auth/login")
    assert response.status_code == 200
    assert any(h.startswith("sendwell=;") for h in response.headers.getlist("Set-Cookie"))


def test_flask_cookie_alone_grants_nothing(app, client, enrolled):
    assert sign_in(client, enrolled).status_code == 200
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert copy.get("/").status_code == 302


def test_deactivating_a_user_ends_their_sessions_at_the_next_request(
        app, client, runner, enrolled, session):
    assert sign_in(client, enrolled).status_code == 200
    other = app.test_client()
    assert sign_in(other, enrolled).status_code == 200
    assert client.get("/").status_code == 200

    result = runner.invoke(args=["users", "deactivate", "Admin@Example.org"])
    assert result.exit_code == 0, result.output
    assert "3 session(s) revoked" in result.output  # enrolment's, client's, other's

    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"
    api = other.get("/", headers={"Accept": "application/json"})
    assert api.status_code == 401
    assert api.get_json() == {"error": "Please sign in with your passkey."}
    assert all(r.revoked_at is not None for r in sessions_of(session))
    user = session.scalars(select(User)).one()
    assert user.active is False
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.deactivated")).one()
    assert (event.actor, event.target) == ("cli", user.id)
    assert json.loads(event.details) == {"sessions_revoked": 3}


def test_deactivated_user_is_refused_even_if_a_session_row_was_missed(client, enrolled,
                                                                      session):
    assert sign_in(client, enrolled).status_code == 200
    session.scalars(select(User)).one().active = False
    session.commit()
    assert client.get("/").status_code == 302
    assert sessions_of(session)[-1].revoked_reason == "user_inactive"


def test_deactivate_unknown_user_fails(runner):
    result = runner.invoke(args=["users", "deactivate", "nobody@example.org"])
    assert result.exit_code == 1
    assert "no staff user with that email address" in result.output


def test_test_sign_in_helper_keeps_its_contract(app, monkeypatch, session):
    allow_test_sign_in(app, monkeypatch)
    client = app.test_client()
    user = sign_in_as(client, session, Role.MANAGER)
    assert client.get("/").status_code == 200
    row = sessions_of(session, user.id)[0]
    assert row.stepped_up_at is None  # a test sign-in is not a passkey assertion
