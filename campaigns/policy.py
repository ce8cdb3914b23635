"""The PHI policy (data-loss prevention) a workflow must satisfy before anything is queued.

Every merge field has a sensitivity class (`campaigns.templating.MERGE_FIELDS`); a
workflow has a purpose. The rules, checked on the templates' source:

- clinical fields never in the subject, preheader or sender name;
- no patient field at all (identity or clinical) inside a URL — a link, an image source or
  a bare address in the text part — since URLs end up in logs, proxies and browser history;
- clinical fields in the body only when the purpose is a care reminder;
- marketing mail carries the organisation's postal address (`ORG_POSTAL_ADDRESS`), added
  as a footer when a template lacks it (`with_postal_address`).

Violations are plain sentences naming the step, the template, the field and where it
appears; they never hold patient data. The functions here are pure: the service loads the
templates and decides what to refuse.
"""

from __future__ import annotations

import re
from dataclasses import replace
from email.utils import parseaddr

from jinja2 import Environment, TemplateSyntaxError
from markupsafe import escape

from campaigns.links import BODY_END
from campaigns.models import Purpose
from campaigns.rendering import TemplateParts
from campaigns.templating import MERGE_FIELDS, Sensitivity, check_part
from core.errors import SendwellError

URL_ATTRIBUTE = re.compile(
    r"""\b(?:href|src|srcset|action|formaction|background|poster|cite|data)\s*=\s*"""
    r"""("[^"]*"|'[^']*'|[^\s>]+)""",
    re.IGNORECASE,
)
# a scheme URL, counting Jinja tags inside it as part of the URL
SCHEME_URL = re.compile(
    r"""(?:https?|mailto|tel|sms):(?:\{\{.*?\}\}|\{%.*?%\}|[^\s"'<>{])+""", re.IGNORECASE
)
URL_SAFE = frozenset({Sensitivity.SYSTEM})
_lexer = Environment(autoescape=True)  # only ever lexes; never renders


class PolicyViolation(SendwellError):
    """A workflow whose templates break the PHI policy: nothing is queued."""

    status_code = 422


def fields_in(fragment: str) -> set[str]:
    """Merge fields named in a fragment of template source (lexed, so it may be partial)."""
    try:
        tokens = list(_lexer.lex(fragment))
    except TemplateSyntaxError:  # e.g. an unclosed tag cut by the URL: scan for names
        return {name for name in MERGE_FIELDS if re.search(rf"\b{name}\b", fragment)}
    return {value for _line, kind, value in tokens if kind == "name" and value in MERGE_FIELDS}


def _url_fields(source: str, html: bool) -> set[str]:
    fragments = SCHEME_URL.findall(source)
    if html:
        fragments += URL_ATTRIBUTE.findall(source)
    found: set[str] = set()
    for fragment in fragments:
        found |= fields_in(fragment)
    return {f for f in found if MERGE_FIELDS[f] not in URL_SAFE}


def _clinical(fields) -> list[str]:
    return sorted(f for f in fields if MERGE_FIELDS[f] is Sensitivity.CLINICAL)


def part_violations(parts: TemplateParts, purpose: str) -> list[tuple[str, str]]:
    """(field, where) pairs breaking the policy in one template, for `purpose`."""
    found = [(f, "the subject") for f in _clinical(check_part(parts.subject, "subject").fields)]
    found += [(f, "the preheader")
              for f in _clinical(check_part(parts.preheader, "preheader").fields)]
    found += [(f, "a link or image URL in the HTML part")
              for f in sorted(_url_fields(parts.html, html=True))]
    found += [(f, "a URL in the text part") for f in sorted(_url_fields(parts.text, html=False))]
    if purpose != Purpose.CARE_REMINDER:
        body = check_part(parts.html, "html").fields | check_part(parts.text, "text").fields
        found += [(f, f"the body of a message with purpose '{purpose}'")
                  for f in _clinical(body)]
    return found


def sender_violations(sender: str) -> list[tuple[str, str]]:
    """Clinical merge fields written into the sender's display name (From header)."""
    display_name = parseaddr(sender)[0]
    return [(f, "the sender name") for f in _clinical(fields_in(display_name))]


def has_postal_address(parts: TemplateParts, address: str) -> bool:
    html_ok = address in parts.html or str(escape(address)) in parts.html
    return bool(address) and html_ok and address in parts.text


def with_postal_address(parts: TemplateParts, address: str) -> TemplateParts:
    """The template with the postal address appended to each part that lacks it."""
    html, text = parts.html, parts.text
    if address and address not in html and str(escape(address)) not in html:
        footer = f'<p style="font-size:12px;color:#555">{escape(address)}</p>'
        html = BODY_END.sub(lambda m: footer + m.group(0), html, count=1)
        html = html if footer in html else html + footer
    if address and address not in text:
        text = f"{text.rstrip()}\n\n{address}\n"
    return replace(parts, html=html, text=text)


def effective_parts(parts: TemplateParts, purpose: str, address: str) -> TemplateParts:
    """What is really sent for `purpose`: marketing mail gets the postal address footer."""
    return with_postal_address(parts, address) if purpose == Purpose.MARKETING else parts


def step_violations(number: int, name: str, parts: TemplateParts, purpose: str,
                    address: str) -> list[str]:
    """Sentences describing each violation of one workflow step (1-based `number`)."""
    where = f"step {number} (template '{name}')"
    messages = [f"{where}: {MERGE_FIELDS[field]} merge field '{field}' is not allowed in {place}"
                for field, place in part_violations(parts, purpose)]
    if purpose == Purpose.MARKETING and not has_postal_address(parts, address):
        messages.append(f"{where}: marketing mail must carry the organisation's postal "
                        "address (set ORG_POSTAL_ADDRESS)")
    return messages
