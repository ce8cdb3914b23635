"""Tracking tokens and the rewriting of a rendered HTML part for click and open tracking.

Every token is random (192 bits, URL-safe); only its SHA-256 is stored, so a database
reader cannot forge a click. `http(s)` links become `{BASE_URL}/t/c/<token>`; `mailto:`
and our own unsubscribe links are left alone. Destinations are registered server-side.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import re
import secrets

from sqlalchemy.orm import Session

from campaigns.models import TrackedLink
from core.crypto import key_ring
from core.db import new_id

ANCHOR_HREF = re.compile(
    r"""(<a\b[^>]*?\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE | re.DOTALL
)
BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def click_url(base_url: str, token: str) -> str:
    return f"{base_url}/t/c/{token}"


def open_url(base_url: str, token: str) -> str:
    return f"{base_url}/t/o/{token}.gif"


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url}/u/{token}"


def rewrite_links(html: str, base_url: str) -> tuple[str, list[tuple[str, str]]]:
    """Point each trackable link at a click token; returns the HTML and (token, url) pairs."""
    issued: list[tuple[str, str]] = []

    def replace(match: re.Match) -> str:
        raw = match.group(2) if match.group(2) is not None else match.group(3)
        url = html_lib.unescape(raw).strip()
        if not _trackable(url, base_url):
            return match.group(0)
        token = new_token()
        issued.append((token, url))
        return f'{match.group(1)}"{click_url(base_url, token)}"'

    return ANCHOR_HREF.sub(replace, html), issued


def _trackable(url: str, base_url: str) -> bool:
    lowered = url.lower()
    if not lowered.startswith(("http://", "https://")):
        return False
    return not url.startswith(f"{base_url}/u/")


def add_open_pixel(html: str, pixel_url: str) -> str:
    """Append the 1x1 open pixel just before `</body>` (or at the end)."""
    tag = f'<img src="{pixel_url}" width="1" height="1" alt="" style="display:none">'
    ends = list(BODY_END.finditer(html))
    if not ends:
        return html + tag
    at = ends[-1].start()
    return html[:at] + tag + html[at:]


def register_links(session: Session, outbox_id: str, issued: list[tuple[str, str]]) -> None:
    """Store each issued click token's hash with its encrypted destination."""
    ring = key_ring()
    for token, url in issued:
        link_id = new_id()
        session.add(
            TrackedLink(
                id=link_id,
                outbox_id=outbox_id,
                token_hash=token_hash(token),
                url_enc=ring.encrypt_json(url, "tracked_links", "url_enc", link_id),
            )
        )
