"""Redaction of secrets and PHI from text bound for logs.

URL tokens (enrolment links, tracking and unsubscribe tokens) are secrets: whoever holds
one can act on it. Email addresses are PHI. Control characters from request lines are
replaced so a hostile path cannot forge log lines or terminal escapes.
"""

from __future__ import annotations

import re

TOKEN_PATHS = re.compile(r"(/(?:auth/enroll|t/o|t/c|u)/)[^/\s?\"]+")
EMAIL = re.compile(r"[^\s@<>\"'/]+@[^\s@<>\"'/]+\.[A-Za-z]{2,}")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def redact(text: str) -> str:
    """`text` with URL tokens, email addresses and control characters replaced."""
    text = TOKEN_PATHS.sub(r"\1<token>", text)
    text = EMAIL.sub("<email>", text)
    return CONTROL.sub("?", text)
