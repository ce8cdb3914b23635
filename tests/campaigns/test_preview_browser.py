"""The preview page in headless Chromium: the sandboxed `srcdoc` frame really renders under
the application's CSP (no violation reported), and the page works from the keyboard."""

from __future__ import annotations

import pytest

from auth.models import Role
from auth.service import ensure_user
from tests.e2e.test_passkey_login import browser, live_server  # noqa: F401 - fixtures
from tests.factories import make_patient
from tests.web import allow_test_sign_in

from .test_preview_routes import drip

pytestmark = pytest.mark.browser


def test_preview_frame_renders_under_the_csp(app, session, monkeypatch, live_server,  # noqa: F811
                                             browser):  # noqa: F811
    allow_test_sign_in(app, monkeypatch)
    make_patient(session, first_name="Maya", traits={"screening_type": "mammogram"})
    workflow = drip(session)
    user = ensure_user(session, "marketer@staff.example.org", Role.MARKETER)
    session.commit()
    page = browser.new_context().new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))  # plain-text pages
    page.goto(f"{live_server}/_test/sign-in/{user.id}")
    page.goto(f"{live_server}/campaigns/{workflow.id}")
    preview_link = page.get_by_role("link", name="Preview step 2")
    preview_link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/campaigns/{workflow.id}/steps/2/preview")
    frame = page.frame_locator("iframe.email-preview")
    assert frame.locator("p").first.inner_text() == "Hi Maya, book your mammogram."
    assert page.locator("iframe.email-preview").get_attribute("sandbox") == ""
    assert problems == []
