"""B24: open-redirect probes mapped onto Sendwell's click route `/t/c/<token>`.

Only a token issued for a rendered link redirects, to its registered destination, ignoring
extra parameters; every other probe is 404 with no Location and no click recorded.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from analytics.models import EngagementEvent
from tests.analytics.builders import send_message
from tests.conftest import CASES

CASE = json.loads((CASES / "B24-redirect-probes.json").read_text())
DESTINATION = "https://portal.example.com/book?clinic=12"
PROBES = {probe["id"]: probe for probe in CASE["probes"]}


def _rejected_urls(token: str, other_token: str) -> list[tuple[int, str]]:
    """Probes 2–8 and 10 as Sendwell URLs (the `/c?url=` forms on every click path)."""
    urls = []
    for probe_id in range(2, 8):
        target = PROBES[probe_id]["request"].split("url=", 1)[1]
        for path in ("/c", "/t/c", "/t/c/"):
            urls.append((probe_id, f"{path}?url={target}"))
        urls.append((probe_id, f"/t/c/{quote(target, safe='')}"))
    changed = token[:-1] + ("A" if token[-1] != "A" else "B")
    urls.append((8, f"/t/c/{changed}"))
    urls.append((10, f"/t/c/{other_token}"))
    return urls


def _clicks(session) -> int:
    session.expire_all()
    return session.scalar(
        select(func.count()).select_from(EngagementEvent).where(EngagementEvent.kind == "click")
    )


def test_case_file_describes_the_destination_we_register():
    assert PROBES[1]["expected_location"] == DESTINATION
    assert PROBES[9]["expected_location"] == DESTINATION


def test_issued_token_redirects_to_its_registered_destination(session, client):
    m1 = send_message(session, links=(DESTINATION,))
    session.commit()
    response = client.get(f"/t/c/{m1.link_tokens[0]}")
    assert response.status_code == PROBES[1]["expected_status"]
    assert response.headers["Location"] == DESTINATION
    assert _clicks(session) == 1


def test_extra_url_parameter_is_ignored(session, client):
    m1 = send_message(session, links=(DESTINATION,))
    session.commit()
    response = client.get(f"/t/c/{m1.link_tokens[0]}?url=https://evil.example.net/")
    assert response.status_code == PROBES[9]["expected_status"]
    assert response.headers["Location"] == DESTINATION


@pytest.mark.parametrize("index", range(len(_rejected_urls("T" * 32, "U" * 32))))
def test_rejected_probe_is_404_without_location_or_click(session, client, index):
    m1 = send_message(session, links=(DESTINATION,))
    send_message(session, links=("https://portal.example.com/other",))
    session.commit()
    probe_id, url = _rejected_urls(m1.link_tokens[0], secrets.token_urlsafe(24))[index]
    response = client.get(url)
    assert response.status_code in (400, 404), (probe_id, url)
    assert "Location" not in response.headers, (probe_id, url)
    assert _clicks(session) == 0
    assert session.scalar(select(func.count()).select_from(EngagementEvent)) == 0


def test_location_only_ever_holds_a_registered_url(session, client):
    m1 = send_message(session, links=(DESTINATION,))
    session.commit()
    locations = set()
    for _, url in _rejected_urls(m1.link_tokens[0], secrets.token_urlsafe(24)):
        locations.add(client.get(url).headers.get("Location"))
    locations.add(client.get(f"/t/c/{m1.link_tokens[0]}?url=//evil.example.net/").location)
    assert locations == {None, DESTINATION}
    assert _clicks(session) == 1
