"""Open pixel and click redirect: known tokens record raw events, unknown ones nothing."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select

from analytics.models import EngagementEvent
from analytics.tracking import PIXEL
from auth.permissions import PUBLIC, ROUTE_PERMISSIONS
from tests.analytics.builders import send_message

BROWSER_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML)"
PORTAL = "https://portal.example.com/book?clinic=12"


def events(session) -> list[tuple[str, str, str]]:
    session.expire_all()
    rows = session.scalars(select(EngagementEvent).order_by(EngagementEvent.kind))
    return [(e.kind, e.classification, e.user_agent_class) for e in rows]


def test_open_pixel_known_token_records_a_human_open(session, client):
    sent = send_message(session)
    session.commit()
    response = client.get(f"/t/o/{sent.open_token}.gif", headers={"User-Agent": BROWSER_UA})
    assert response.status_code == 200
    assert response.data == PIXEL
    assert response.mimetype == "image/gif"
    assert "no-store" in response.headers["Cache-Control"]
    assert events(session) == [("open", "human", "browser")]


@pytest.mark.parametrize("token", [
    secrets.token_urlsafe(24),  # well formed, never issued
    "short",
    "x" * 500,
    "not%20a%20token",
    "..%2f..%2fetc",
])
def test_open_pixel_unknown_token_answers_the_same_gif_and_records_nothing(
    session, client, token
):
    send_message(session)
    session.commit()
    response = client.get(f"/t/o/{token}.gif")
    assert response.status_code == 200
    assert response.data == PIXEL
    assert "no-store" in response.headers["Cache-Control"]
    assert events(session) == []


def test_open_pixel_from_apple_privacy_proxy_is_kept_as_machine_open(session, client):
    sent = send_message(session)
    session.commit()
    client.get(f"/t/o/{sent.open_token}.gif", headers={"User-Agent": "Mozilla/5.0"})
    assert events(session) == [("open", "machine_open", "apple_mpp")]


def test_click_known_token_redirects_and_records_click_and_implied_open(session, client):
    sent = send_message(session, links=(PORTAL,))
    session.commit()
    response = client.get(f"/t/c/{sent.link_tokens[0]}", headers={"User-Agent": BROWSER_UA})
    assert response.status_code == 302
    assert response.headers["Location"] == PORTAL
    assert events(session) == [("click", "human", "browser"), ("open", "human", "browser")]


def test_second_click_does_not_imply_a_second_open(session, client):
    sent = send_message(session, links=(PORTAL,))
    session.commit()
    client.get(f"/t/o/{sent.open_token}.gif", headers={"User-Agent": BROWSER_UA})
    for _ in range(2):
        client.get(f"/t/c/{sent.link_tokens[0]}", headers={"User-Agent": BROWSER_UA})
    kinds = [kind for kind, _, _ in events(session)]
    assert kinds == ["click", "click", "open"]


def test_click_by_link_scanner_is_kept_as_scanner_click(session, client):
    sent = send_message(session, links=(PORTAL,))
    session.commit()
    response = client.get(
        f"/t/c/{sent.link_tokens[0]}", headers={"User-Agent": "Proofpoint URL Defense"}
    )
    assert response.status_code == 302
    assert events(session) == [
        ("click", "scanner_click", "scanner"), ("open", "machine_open", "scanner"),
    ]


def test_click_unknown_token_is_404_without_location_and_records_nothing(session, client):
    send_message(session, links=(PORTAL,))
    session.commit()
    response = client.get(f"/t/c/{secrets.token_urlsafe(24)}")
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert events(session) == []


def test_each_link_of_a_message_redirects_to_its_own_destination(session, client):
    urls = ("https://portal.example.com/a", "https://www.example.org/b?x=1&y=2")
    sent = send_message(session, links=urls)
    session.commit()
    locations = [client.get(f"/t/c/{t}").headers["Location"] for t in sent.link_tokens]
    assert tuple(locations) == urls


def test_tracking_endpoints_are_declared_public():
    for endpoint in ("open_pixel", "click", "unsubscribe_page", "unsubscribe"):
        assert ROUTE_PERMISSIONS[f"tracking.{endpoint}"] == PUBLIC


def test_head_request_on_a_click_link_counts_as_a_scanner(session, client):
    sent = send_message(session, links=(PORTAL,))
    session.commit()
    response = client.head(f"/t/c/{sent.link_tokens[0]}", headers={"User-Agent": BROWSER_UA})
    assert response.status_code == 302
    assert events(session) == [
        ("click", "scanner_click", "head_request"), ("open", "machine_open", "head_request"),
    ]
