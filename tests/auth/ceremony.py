"""Drive the passkey pages through the Flask test client, as webauthn.js does in a browser."""

from __future__ import annotations

import re

from tests.auth.authenticator import SoftAuthenticator

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_from(client, path: str) -> str:
    """The CSRF token of the page at `path` (from base.html's meta tag)."""
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return CSRF_META.search(page.get_data(as_text=True)).group(1)


def forget_cookies(client) -> None:
    """Drop both cookies: Flask's (CSRF, pending challenge) and the sign-in session's."""
    client.delete_cookie("session")
    client.delete_cookie("sendwell")


def post_json(client, url: str, token: str, body: dict | None = None):
    return client.post(url, json=body or {}, headers={"X-CSRFToken": token})


def invite(runner, email: str = "admin@example.org", role: str | None = None) -> str:
    """Run the CLI and return the enrolment token it printed."""
    args = ["users", "create-admin", email] if role is None else [
        "users", "invite", email, "--role", role]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    link = result.stdout.strip().splitlines()[-1]
    return link.rsplit("/", 1)[1]


def register(client, token: str, authenticator: SoftAuthenticator, **tamper):
    """Options + verify on the enrolment page; returns the verify response."""
    csrf = csrf_from(client, f"/auth/enroll/{token}")
    options = post_json(client, f"/auth/enroll/{token}/options", csrf)
    assert options.status_code == 200, options.get_data(as_text=True)
    credential = authenticator.create(options.get_json(), **tamper)
    return post_json(client, f"/auth/enroll/{token}/verify", csrf, credential)


def login_options(client) -> tuple[str, dict]:
    csrf = csrf_from(client, "/auth/login")
    options = post_json(client, "/auth/login/options", csrf)
    assert options.status_code == 200, options.get_data(as_text=True)
    return csrf, options.get_json()


def sign_in(client, authenticator: SoftAuthenticator, **tamper):
    """Options + verify on the sign-in page; returns the verify response."""
    csrf, options = login_options(client)
    credential = authenticator.get(options, **tamper)
    return post_json(client, "/auth/login/verify", csrf, credential)


def sign_out(client):
    csrf = csrf_from(client, "/")
    return client.post("/auth/logout", data={"csrf_token": csrf})
