"""Every endpoint declares who may reach it, and the declaration is what really happens.

The walk requests every registered route, with every method, as every role and as an
anonymous visitor, through the real request pipeline (session, rate limit, permission
check); only the view functions are replaced by a stub that answers "reached". The
outcome must be exactly what the permission table says.
"""

from __future__ import annotations

import pytest

from auth.models import Role
from auth.permissions import PUBLIC, ROUTE_PERMISSIONS, SIGNED_IN, undeclared_endpoints
from tests.web import allow_test_sign_in, sign_in_as

REACHED = "reached"
SIGN_IN = "sign_in"
FORBIDDEN = "forbidden"
IDENTITIES: list[Role | None] = [None, *Role]
SKIP = {"test_sign_in"}  # the walk's own helper route


@pytest.fixture
def app_config(app_config):
    # CSRF would answer 400 before the permission check; rate limits would answer 429.
    return {**app_config, "WTF_CSRF_ENABLED": False, "AUTH_RATE_LIMIT_PER_MINUTE": 10_000}


@pytest.fixture
def clients(app, monkeypatch, session):
    """A test client per identity: None (anonymous) and each role, signed in."""
    allow_test_sign_in(app, monkeypatch)
    signed = {None: app.test_client()}
    for role in Role:
        signed[role] = app.test_client()
        sign_in_as(signed[role], session, role)
    return signed


def expected(endpoint: str, identity: Role | None) -> str:
    rule = ROUTE_PERMISSIONS[endpoint]
    if rule == PUBLIC:
        return REACHED
    if identity is None:
        return SIGN_IN
    return REACHED if rule == SIGNED_IN or identity in rule else FORBIDDEN


def outcome(response) -> str:
    if response.status_code == 200 and response.get_data(as_text=True) == REACHED:
        return REACHED
    if response.status_code == 302 and response.headers["Location"] == "/auth/login":
        return SIGN_IN
    if response.status_code == 403:
        return FORBIDDEN
    return f"status {response.status_code}"


def stub_views(app, monkeypatch) -> None:
    for endpoint in list(app.view_functions):
        if endpoint not in SKIP:
            monkeypatch.setitem(app.view_functions, endpoint, lambda **_kwargs: REACHED)


def sample_path(rule) -> str:
    values = {name: "1" for name in rule.arguments}
    return rule.build(values)[1]


def walk(app, clients) -> list[str]:
    """Every (route, method, identity) whose outcome differs from the table."""
    problems = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP:
            continue
        if rule.endpoint not in ROUTE_PERMISSIONS:
            problems.append(f"{rule.endpoint}: no declared permission")
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            path = sample_path(rule)
            for identity, client in clients.items():
                got = outcome(client.open(path, method=method))
                want = expected(rule.endpoint, identity)
                if got != want:
                    problems.append(f"{method} {path} as {identity}: {got}, expected {want}")
    return problems


def test_every_endpoint_for_every_role_matches_the_table(app, clients, monkeypatch):
    stub_views(app, monkeypatch)
    rules = [r for r in app.url_map.iter_rules() if r.endpoint not in SKIP]
    assert len(rules) >= 40  # the whole application, not a sample
    assert walk(app, clients) == []


def test_the_walk_covers_public_signed_in_and_role_routes(app, clients, monkeypatch):
    stub_views(app, monkeypatch)
    kinds = {ROUTE_PERMISSIONS[r.endpoint] == PUBLIC for r in app.url_map.iter_rules()
             if r.endpoint not in SKIP}
    assert kinds == {True, False}
    assert expected("compliance.audit", Role.MARKETER) == FORBIDDEN
    assert expected("compliance.audit", Role.COMPLIANCE) == REACHED
    assert expected("auth.logout", None) == SIGN_IN
    assert expected("tracking.click", None) == REACHED


def test_a_route_without_a_declared_permission_makes_the_walk_fail(app, monkeypatch):
    allow_test_sign_in(app, monkeypatch)
    app.add_url_rule("/reports/secret", "reports.secret", lambda: "secret")
    clients = {None: app.test_client()}
    assert undeclared_endpoints(app) == ["reports.secret"]
    assert clients[None].get("/reports/secret").status_code == 403  # refused meanwhile
    stub_views(app, monkeypatch)
    assert "reports.secret: no declared permission" in walk(app, clients)


def test_the_walk_reports_an_outcome_that_differs_from_the_table(app, clients, monkeypatch):
    stub_views(app, monkeypatch)
    monkeypatch.setitem(app.view_functions, "compliance.audit", lambda: ("no", 403))
    assert walk(app, clients) == [
        "GET /compliance/audit as admin: forbidden, expected reached",
        "GET /compliance/audit as compliance: forbidden, expected reached",
    ]


def test_every_endpoint_declares_its_permission(app):
    assert undeclared_endpoints(app) == []


def test_auth_endpoint_permissions():
    public = [
        "auth.login_page", "auth.login_options", "auth.login_verify",
        "auth.enroll_page", "auth.enroll_options", "auth.enroll_verify",
        "auth.recover_page", "auth.recover_submit", "auth.recover_enroll_page",
        "auth.recover_enroll_options", "auth.recover_enroll_verify",
    ]
    assert {e: ROUTE_PERMISSIONS[e] for e in public} == dict.fromkeys(public, PUBLIC)
    signed_in = ["auth.logout", "auth.step_up_page", "auth.step_up_options",
                 "auth.step_up_verify", "auth.recovery_codes_page",
                 "auth.recovery_codes_generate"]
    assert {e: ROUTE_PERMISSIONS[e] for e in signed_in} == dict.fromkeys(signed_in, SIGNED_IN)
    auditors = frozenset({Role.ADMIN, Role.COMPLIANCE})
    assert ROUTE_PERMISSIONS["compliance.audit"] == auditors
    assert ROUTE_PERMISSIONS["compliance.audit_export"] == auditors


def test_auth_routes_accept_only_their_methods(app):
    methods = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules() if rule.endpoint.startswith("auth.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert methods == {
        ("/auth/login", "GET"),
        ("/auth/login/options", "POST"),
        ("/auth/login/verify", "POST"),
        ("/auth/enroll/<token>", "GET"),
        ("/auth/enroll/<token>/options", "POST"),
        ("/auth/enroll/<token>/verify", "POST"),
        ("/auth/logout", "POST"),
        ("/auth/step-up", "GET"),
        ("/auth/step-up/options", "POST"),
        ("/auth/step-up/verify", "POST"),
        ("/auth/recovery-codes", "GET"),
        ("/auth/recovery-codes", "POST"),
        ("/auth/recover", "GET"),
        ("/auth/recover", "POST"),
        ("/auth/recover/enroll", "GET"),
        ("/auth/recover/enroll/options", "POST"),
        ("/auth/recover/enroll/verify", "POST"),
    }


def test_no_password_or_email_link_route(app):
    rules = " ".join(rule.rule for rule in app.url_map.iter_rules())
    for word in ("password", "magic", "dev-login", "bypass"):
        assert word not in rules
