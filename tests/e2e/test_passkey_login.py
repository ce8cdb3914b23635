"""End to end in headless Chromium: enrol a passkey from a one-time link, sign out, sign in.

Chromium's DevTools WebAuthn domain provides a virtual platform authenticator (CTAP2,
resident keys, user verification), so the real `static/js/webauthn.js` runs against the
real server, CSP and CSRF included.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
VIRTUAL_AUTHENTICATOR = {
    "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
    "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
}


@pytest.fixture
def live_server(app, database_url):
    """The app served on a free port of `localhost` (WebAuthn refuses IP addresses)."""
    if database_url.startswith("postgresql"):
        pytest.skip("browser test runs on SQLite only; the ceremonies are covered on PG in "
                    "tests/auth")
    server = make_server("localhost", 0, app, threaded=True)
    base = f"http://localhost:{server.server_port}"
    app.config.update(RP_ORIGIN=base, BASE_URL=base)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed; the browser test needs Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def enrolment_link(app) -> str:
    result = app.test_cli_runner().invoke(args=["users", "create-admin", "admin@example.org"])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_enrol_sign_out_and_sign_in_with_a_passkey(app, live_server, browser):
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable", {"enableUI": False})
    authenticator = devtools.send(
        "WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR}
    )["authenticatorId"]

    link = enrolment_link(app)
    assert link.startswith(f"{live_server}/auth/enroll/")
    page.goto(link)
    page.get_by_role("button", name="Register a passkey").click()
    page.wait_for_url(f"{live_server}/")
    assert page.title() == "Dashboard · Sendwell"
    assert page.get_by_role("heading", level=1).inner_text() == "Engagement"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server}/auth/login")
    assert page.goto(f"{live_server}/").url == f"{live_server}/auth/login"
    assert page.goto(link).status == 404  # the link worked once
    assert page.get_by_role("alert").inner_text().startswith("This enrolment link is not valid")
    page.goto(f"{live_server}/auth/login")

    button = page.get_by_role("button", name="Sign in with a passkey")
    button.focus()
    page.keyboard.press("Enter")  # the ceremony is keyboard-usable
    page.wait_for_url(f"{live_server}/")
    response = page.goto(f"{live_server}/")
    assert response.status == 200
    assert page.get_by_role("heading", level=1).inner_text() == "Engagement"

    credentials = devtools.send(
        "WebAuthn.getCredentials", {"authenticatorId": authenticator}
    )["credentials"]
    assert len(credentials) == 1
    assert credentials[0]["isResidentCredential"] is True
    assert [e for e in errors if "Content Security Policy" in e] == []
    context.close()

