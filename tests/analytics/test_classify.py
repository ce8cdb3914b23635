"""User-agent classes and the report-time classification of hits."""

from __future__ import annotations

import pytest

from analytics.classify import classification, user_agent_class

UA = [
    ("Mozilla/5.0", "GET", "apple_mpp"),
    ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
     "GET", "google_image_proxy"),
    ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", "GET",
     "yahoo_image_proxy"),
    ("Mozilla/5.0 (compatible; link scanner)", "GET", "scanner"),
    ("Proofpoint URL Defense", "GET", "scanner"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36 BingPreview/1.0b", "GET", "scanner"),
    ("python-requests/2.31.0", "GET", "scanner"),
    ("curl/8.4.0", "GET", "scanner"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Mobile/15E148", "GET", "browser"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36", "GET", "browser"),
    ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126)", "GET", "browser"),
    ("", "GET", "browser"),
    (None, "GET", "browser"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0", "HEAD", "head_request"),
]


@pytest.mark.parametrize("ua,method,expected", UA)
def test_user_agent_class_follows_the_documented_rules(ua, method, expected):
    assert user_agent_class(ua, method) == expected


@pytest.mark.parametrize("kind,ua_class,expected", [
    ("open", "browser", "human"),
    ("click", "browser", "human"),
    ("open", "apple_mpp", "machine_open"),
    ("open", "google_image_proxy", "machine_open"),
    ("click", "scanner", "scanner_click"),
    ("open", "scanner", "machine_open"),  # the open a scanner's click implies
    ("click", "head_request", "scanner_click"),
    ("unsubscribe", "browser", "human"),
    ("open", "some_future_class", "human"),
])
def test_classification_is_derived_at_report_time(kind, ua_class, expected):
    assert classification(kind, ua_class) == expected
