"""Rendering and MIME: header sanitising (case B21), links, pixel, unsubscribe headers."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest

from campaigns.links import add_open_pixel, rewrite_links
from campaigns.models import EmailTemplate
from campaigns.rendering import build_mime, header_safe, message_id_for, render_message

B21 = json.loads((Path(__file__).parent / "B21-header-injection-profiles.json").read_text())
BASE = "https://mail.example.org"
SENDER = "Sendwell Care Team <care@sendwell.example.org>"


def template(subject="Reminder for {{ first_name }}", html="<p>Hi</p>", text="Hi"):
    return EmailTemplate(id="t", name="t", subject=subject, html=html, text=text, preheader="")


def mime_for(profile: dict, tmpl=None) -> email.message.EmailMessage:
    rendered = render_message(tmpl or template(), profile, BASE, "Sendwell Health")
    raw = build_mime(
        rendered, sender=SENDER, recipient=profile["email"],
        display_name=f"{profile['first_name']} {profile['last_name']}",
        message_id=message_id_for("ab" * 32, SENDER), date=datetime(2023, 12, 31, tzinfo=UTC),
    )
    return email.message_from_bytes(raw, policy=policy.default)


@pytest.mark.parametrize("profile", B21["profiles"], ids=lambda p: p["email"])
def test_b21_header_values_cannot_add_headers(profile):
    expected = B21["expected"][profile["email"]]
    msg = mime_for(profile)
    assert msg.get_all("Subject") == [expected["subject"]]
    assert msg["Bcc"] is None and msg["X-Priority"] is None
    assert [a.addr_spec for a in msg["To"].addresses] == [profile["email"]]
    assert len(msg.get_all("To")) == 1


def test_encoded_word_markers_are_neutralised():
    assert header_safe("=?utf-8?q?Bcc:_x?=") == "= ?utf-8?q?Bcc:_x?="
    assert header_safe("a\u2028b\r\n\r\nc") == "a b c"
    assert header_safe(None) == ""


def test_non_ascii_subject_round_trips():
    msg = mime_for({"email": "jo@example.org", "first_name": "José", "last_name": "Núñez"})
    assert msg["Subject"] == "Reminder for José"
    assert msg["To"].addresses[0].display_name == "José Núñez"


def test_message_id_is_deterministic_per_outbox_row():
    assert message_id_for("ab" * 32, SENDER) == f"<{'ab' * 20}@sendwell.example.org>"


def test_links_rewritten_except_mailto_and_unsubscribe():
    html = ('<a href="https://portal.example.org/a?x=1&amp;y=2">A</a>'
            "<a class='b' href='http://example.org/b'>B</a>"
            '<a href="mailto:care@example.org">M</a>'
            f'<a href="{BASE}/u/tok">U</a>')
    out, issued = rewrite_links(html, BASE)
    assert [url for _, url in issued] == ["https://portal.example.org/a?x=1&y=2",
                                          "http://example.org/b"]
    for token, _ in issued:
        assert f'href="{BASE}/t/c/{token}"' in out
        assert len(token) >= 32
    assert 'href="mailto:care@example.org"' in out and f'href="{BASE}/u/tok"' in out


def test_open_pixel_goes_before_body_end():
    assert add_open_pixel("<body><p>x</p></body>", "P").endswith('style="display:none"></body>')
    assert add_open_pixel("<p>x</p>", "P").startswith("<p>x</p><img src=\"P\"")


def test_unsubscribe_footer_added_when_template_lacks_it():
    msg = mime_for({"email": "a@example.org", "first_name": "A", "last_name": "B"})
    text, html = (part.get_content() for part in msg.iter_parts())
    url = msg["List-Unsubscribe"].strip().strip("<>")
    assert f"Unsubscribe: {url}" in text
    assert f'href="{url}"' in html


def test_preview_without_tracking_keeps_links():
    tmpl = template(html='<a href="https://portal.example.org/">Go</a>')
    rendered = render_message(tmpl, {"first_name": "A"}, BASE, "Org", tracking=False)
    assert 'href="https://portal.example.org/"' in rendered.html
    assert rendered.open_token is None and rendered.links == []


def test_preheader_goes_inside_body_after_the_doctype():
    from campaigns.rendering import TemplateParts, render_message

    template = TemplateParts(
        "Hello", "<!doctype html><html><body class='x'><p>Hi</p></body></html>", "Hi",
        "Book in two minutes",
    )
    rendered = render_message(template, {"first_name": "A"}, "http://localhost:5000",
                              "Clinic", tracking=False)
    assert rendered.html.startswith("<!doctype html><html><body class='x'><div")
    assert "Book in two minutes</div><p>Hi</p>" in rendered.html
