"""Rate limits on every authentication endpoint, per IP and per account."""

from __future__ import annotations

import pytest

from auth.ratelimit import MESSAGE, TokenBuckets, buckets

LIMIT = 3


@pytest.fixture
def app_config(app_config):
    return {**app_config, "AUTH_RATE_LIMIT_PER_MINUTE": LIMIT}


def sample_url(rule) -> str:
    return rule.build({arg: "A" * 43 for arg in rule.arguments})[1]


def client_at(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_the_limit_comes_from_config(app):
    assert app.config["AUTH_RATE_LIMIT_PER_MINUTE"] == LIMIT
    assert buckets(app).capacity == LIMIT


def test_every_auth_endpoint_is_limited_per_ip(app):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("auth.")]
    assert len(rules) >= 15
    for number, rule in enumerate(rules):
        client = client_at(app, f"198.51.100.{number + 1}")
        method = "GET" if "GET" in rule.methods else "POST"
        url = sample_url(rule)
        statuses = [client.open(url, method=method).status_code for _ in range(LIMIT + 1)]
        assert 429 not in statuses[:LIMIT], (rule.rule, method, statuses)
        assert statuses[LIMIT] == 429, (rule.rule, method, statuses)


def test_page_refusal_is_generic_with_retry_after(client):
    for _ in range(LIMIT):
        assert client.get("/auth/login").status_code == 200
    response = client.get("/auth/login")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "60"
    html = response.get_data(as_text=True)
    assert "Too many requests" in html and "Please wait a minute and try again." in html


def test_json_refusal_is_generic(client):
    for _ in range(LIMIT):
        client.post("/auth/login/options", json={})
    response = client.post("/auth/login/options", json={})
    assert response.status_code == 429
    assert response.get_json() == {"error": MESSAGE}


def test_other_addresses_are_not_affected(app):
    for _ in range(LIMIT + 1):
        client_at(app, "203.0.113.1").get("/auth/login")
    assert client_at(app, "203.0.113.2").get("/auth/login").status_code == 200


def test_recovery_attempts_are_limited_per_account_across_addresses(app):
    statuses = []
    for number in range(LIMIT + 1):
        client = client_at(app, f"192.0.2.{number + 1}")  # a fresh address every time
        statuses.append(client.post("/auth/recover", data={
            "email": "Admin@Example.org ", "code": "AAAA-AAAA-AAAA-AAAA"}).status_code)
    assert statuses == [400] * LIMIT + [429]  # 400: no CSRF token; counted all the same
    other = client_at(app, "192.0.2.200").post("/auth/recover", data={
        "email": "someone-else@example.org", "code": "x"})
    assert other.status_code == 400


def test_enrolment_link_attempts_are_limited_per_link(app):
    url = "/auth/enroll/" + "B" * 43
    statuses = [client_at(app, f"192.0.2.{n + 1}").get(url).status_code
                for n in range(LIMIT + 1)]
    assert statuses == [404] * LIMIT + [429]


def test_non_auth_endpoints_are_not_limited(app):
    client = client_at(app, "192.0.2.99")
    assert {client.get("/healthz").status_code for _ in range(LIMIT * 3)} == {200}


def test_token_bucket_refills_at_the_configured_rate():
    now = [1000.0]
    store = TokenBuckets(6, clock=lambda: now[0])  # 6 a minute: one token every 10 s
    assert [store.take("k") for _ in range(7)] == [True] * 6 + [False]
    now[0] += 9
    assert store.take("k") is False
    now[0] += 1
    assert store.take("k") is True
    assert store.take("k") is False
    assert store.take("other") is True
    now[0] += 3600
    assert [store.take("k") for _ in range(7)] == [True] * 6 + [False]  # never above capacity
