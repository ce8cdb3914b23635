"""The dashboard page: staff only, chart data as JSON (no inline script), masked table."""

from __future__ import annotations

import json
import re

import pytest
from flask_login import login_user

from auth.models import Role, User
from tests.analytics.builders import send_message

SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def render_as(app, session, role=Role.MARKETER):
    """GET / as a signed-in user, through the permission check and the view."""
    user = User(email=f"{role}@example.org", role=role)
    session.add(user)
    session.commit()
    with app.test_request_context("/"):
        login_user(user)
        response = app.preprocess_request() or app.make_response(app.dispatch_request())
        response = app.process_response(response)
        return response.status_code, response.get_data(as_text=True), response.headers


def assert_no_inline_script(html: str) -> None:
    for attrs, body in SCRIPT_TAG.findall(html):
        if body.strip():
            assert 'type="application/json"' in attrs, attrs
        else:
            assert "src=" in attrs, attrs
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"


def chart_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>',
                      html, re.DOTALL)
    assert match, "chart data missing"
    return json.loads(match.group(1))


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/auth/login")


def test_empty_state_when_nothing_was_sent(app, session):
    status, html, _ = render_as(app, session)
    assert status == 200
    assert "No emails sent yet" in html
    assert "chart-data" not in html
    assert "plotly-strict.min.js" not in html
    assert_no_inline_script(html)


@pytest.mark.parametrize("role", list(Role))
def test_every_staff_role_sees_the_chart_and_masked_table(app, session, role):
    for _ in range(12):
        send_message(session, segment="Diabetes care")
    for _ in range(3):
        send_message(session, segment="Asthma </script><b>")
    status, html, headers = render_as(app, session, role)
    assert status == 200
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert_no_inline_script(html)
    assert '<script src="/static/vendor/plotly-strict.min.js"></script>' in html
    assert '<script src="/static/js/dashboard.js"></script>' in html
    figure = chart_data(html)
    assert [t["name"] for t in figure["data"]] == ["Sent", "Unique opens", "Clicks", "Conversions"]
    sent = figure["data"][0]
    assert sent["x"] == ["Asthma </script><b>", "Diabetes care"]
    assert sent["y"] == [None, 12]
    assert '<th scope="row">Asthma &lt;/script&gt;&lt;b&gt;</th>' in html
    assert '<td class="num">&lt;11</td>' in html
    assert '<td class="num">12</td>' in html
    assert '<th scope="row">All segments</th>' in html
