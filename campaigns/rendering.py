"""Turning a template and one recipient's profile into the bytes handed to the relay.

Merge values are taken from the decrypted profile; values landing in a header have line
breaks collapsed to a space and encoded-word markers (`=?`) neutralised, so a hostile
profile can neither add headers nor recipients, and never stops a batch. The MIME tree is
built with `email.mime` (compat32), about three times faster than `EmailMessage`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from io import BytesIO

from campaigns import links
from campaigns.models import EmailTemplate
from campaigns.templating import check_part, render_part

LINE_BREAKS = re.compile(r"[\r\n\x00\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")
UTF8_QP = Charset("utf-8")
UTF8_QP.body_encoding = QP


def header_safe(value: object) -> str:
    """A value fit for a header: one line, no encoded-word opener."""
    text = "" if value is None else str(value)
    return LINE_BREAKS.sub(" ", text).replace("=?", "= ?")


def merge_values(profile: dict, org_name: str, unsubscribe: str) -> dict:
    """The merge fields a template may use, from one decrypted profile (None → empty)."""
    traits = profile.get("traits") or {}
    values = {
        "first_name": profile.get("first_name"),
        "last_name": profile.get("last_name"),
        "preferred_name": traits.get("preferred_name") or profile.get("first_name"),
        "screening_type": traits.get("screening_type"),
        "org_name": org_name,
        "unsubscribe_url": unsubscribe,
    }
    return {k: ("" if v is None else v) for k, v in values.items()}


def message_id_for(idempotency_key: str, sender: str) -> str:
    """The deterministic Message-ID of an outbox row: retries carry the same id."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "sendwell.invalid"
    return f"<{idempotency_key[:40]}@{domain}>"


@dataclass(frozen=True)
class TemplateParts:
    """A template's text, detached from the database row (cached for a whole run)."""

    subject: str
    html: str
    text: str
    preheader: str = ""


Template = EmailTemplate | TemplateParts


@dataclass
class Rendered:
    subject: str
    text: str
    html: str
    unsubscribe_url: str
    unsubscribe_token: str
    open_token: str | None = None
    links: list[tuple[str, str]] = field(default_factory=list)


def render_message(
    template: Template, profile: dict, base_url: str, org_name: str,
    tracking: bool = True,
) -> Rendered:
    """Render every part for one recipient; raises `MissingMergeField` to skip them."""
    unsub_token = links.new_token()
    unsub_url = links.unsubscribe_url(base_url, unsub_token)
    values = merge_values(profile, org_name, unsub_url)
    header_values = {k: header_safe(v) for k, v in values.items()}
    subject = header_safe(render_part(template.subject, header_values))
    text = _with_text_footer(render_part(template.text, values), template.text, unsub_url)
    html = _html_body(template, values, header_values, unsub_url)
    rendered = Rendered(subject, text, html, unsub_url, unsub_token)
    if tracking:
        rendered.html, rendered.links = links.rewrite_links(html, base_url)
        rendered.open_token = links.new_token()
        rendered.html = links.add_open_pixel(
            rendered.html, links.open_url(base_url, rendered.open_token)
        )
    return rendered


BODY_START = re.compile(r"<body\b[^>]*>", re.IGNORECASE)


def _html_body(template: Template, values: dict, header_values: dict, unsub: str) -> str:
    html = render_part(template.html, values, html=True)
    if template.preheader:
        pre = render_part(template.preheader, header_values, html=True)
        hidden = f'<div style="display:none;max-height:0;overflow:hidden">{pre}</div>'
        # right after <body>, so the document still starts with its doctype
        with_pre = BODY_START.sub(lambda m: m.group(0) + hidden, html, count=1)
        html = with_pre if with_pre != html else hidden + html
    if "unsubscribe_url" not in check_part(template.html, "html").fields:
        footer = f'<p style="font-size:12px"><a href="{unsub}">Unsubscribe</a></p>'
        html = links.BODY_END.sub(lambda m: footer + m.group(0), html, count=1)
        html = html if footer in html else html + footer
    return html


def _with_text_footer(text: str, source: str, unsub: str) -> str:
    if "unsubscribe_url" in check_part(source, "text").fields:
        return text
    return f"{text.rstrip()}\n\n--\nUnsubscribe: {unsub}\n"


def build_mime(
    rendered: Rendered, *, sender: str, recipient: str, display_name: str,
    message_id: str, date: datetime,
) -> bytes:
    """multipart/alternative (text, then HTML) with List-Unsubscribe one-click headers."""
    msg = MIMEMultipart("alternative")
    msg["From"] = sender
    msg["To"] = formataddr((header_safe(display_name).strip(), recipient), charset="utf-8")
    msg["Subject"] = _encoded(rendered.subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["List-Unsubscribe"] = f"<{rendered.unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.attach(MIMEText(rendered.text, "plain", UTF8_QP))
    msg.attach(MIMEText(rendered.html, "html", UTF8_QP))
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, maxheaderlen=78).flatten(msg, linesep="\r\n")
    return out.getvalue()


def _encoded(value: str) -> str | Header:
    return value if value.isascii() else Header(value, "utf-8")
