"""Who made a tracking hit: a person, a privacy proxy, or a link scanner.

Raw hits are always kept. At hit time only a coarse *user-agent class* is stored (never
the raw User-Agent); the classification that reports use is derived from that class when
the report runs, so a change to these rules re-classifies every past event.

Rules, in order (first match wins; matching is case-insensitive on the User-Agent):

1. A HEAD request is a machine (`head_request`): people's mail clients and browsers GET.
2. Apple Mail Privacy Protection (`apple_mpp`): the proxy sends the bare UA `Mozilla/5.0`
   with no platform or engine tokens.
3. Image proxies (`google_image_proxy`, `yahoo_image_proxy`): `GoogleImageProxy`
   (`via ggpht.com`) and `YahooMailProxy` fetch images on the mailbox's behalf.
4. Known link scanners and bots (`scanner`): security gateways (Proofpoint/urldefense,
   Mimecast, Barracuda, Microsoft Safe Links/BingPreview, Symantec, Trend Micro, Zscaler,
   Cisco IronPort, Forcepoint, Sophos), generic `link scanner`/`bot`/`crawler`/`spider`
   tokens, headless browsers and HTTP libraries (curl, Wget, python-requests, Go).
5. Anything else, including an empty User-Agent, is a person (`browser`).

Classes 1–4 report as `machine_open` for opens (the open a click implies included) and
`scanner_click` for clicks; class 5 reports as `human`.
"""

from __future__ import annotations

import re

HUMAN = "human"
MACHINE_OPEN = "machine_open"
SCANNER_CLICK = "scanner_click"

BROWSER = "browser"
HEAD_REQUEST = "head_request"

_APPLE_MPP = re.compile(r"^\s*mozilla/5\.0\s*$", re.IGNORECASE)
_PROXIES = (
    ("google_image_proxy", re.compile(r"googleimageproxy|ggpht\.com", re.IGNORECASE)),
    ("yahoo_image_proxy", re.compile(r"yahoomailproxy", re.IGNORECASE)),
)
_SCANNER = re.compile(
    r"proofpoint|urldefense|mimecast|barracuda|safelinks|bingpreview|symantec|"
    r"trend ?micro|zscaler|ironport|forcepoint|sophos|link ?scanner|"
    r"\bbot\b|bot/|crawler|spider|headlesschrome|phantomjs|"
    r"\bcurl/|\bwget/|python-requests|python-urllib|go-http-client|okhttp|java/",
    re.IGNORECASE,
)
MACHINE_CLASSES = frozenset(
    {HEAD_REQUEST, "apple_mpp", "google_image_proxy", "yahoo_image_proxy", "scanner"}
)


def user_agent_class(user_agent: str | None, method: str = "GET") -> str:
    """The coarse class of one request (rules 1–5 above); stored with the raw event."""
    if method.upper() == "HEAD":
        return HEAD_REQUEST
    ua = (user_agent or "").strip()
    if _APPLE_MPP.match(ua):
        return "apple_mpp"
    for name, pattern in _PROXIES:
        if pattern.search(ua):
            return name
    if _SCANNER.search(ua):
        return "scanner"
    return BROWSER


def classification(kind: str, ua_class: str) -> str:
    """What a stored event counts as in reports: human, machine_open or scanner_click."""
    if ua_class not in MACHINE_CLASSES:
        return HUMAN
    return SCANNER_CLICK if kind == "click" else MACHINE_OPEN


def is_human(kind: str, ua_class: str) -> bool:
    return classification(kind, ua_class) == HUMAN
