"""Every endpoint declares who may reach it; the auth endpoints declare the right level."""

from __future__ import annotations

from auth.permissions import PUBLIC, ROUTE_PERMISSIONS, SIGNED_IN, undeclared_endpoints


def test_every_endpoint_declares_its_permission(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing = sorted(e for e in endpoints if e not in ROUTE_PERMISSIONS)
    assert missing == []
    assert undeclared_endpoints(app) == []


def test_auth_endpoint_permissions():
    public = [
        "auth.login_page", "auth.login_options", "auth.login_verify",
        "auth.enroll_page", "auth.enroll_options", "auth.enroll_verify",
    ]
    assert {e: ROUTE_PERMISSIONS[e] for e in public} == dict.fromkeys(public, PUBLIC)
    assert ROUTE_PERMISSIONS["auth.logout"] == SIGNED_IN


def test_auth_routes_accept_only_their_methods(app):
    methods = {
        rule.rule: sorted(rule.methods - {"HEAD", "OPTIONS"})
        for rule in app.url_map.iter_rules() if rule.endpoint.startswith("auth.")
    }
    assert methods == {
        "/auth/login": ["GET"],
        "/auth/login/options": ["POST"],
        "/auth/login/verify": ["POST"],
        "/auth/enroll/<token>": ["GET"],
        "/auth/enroll/<token>/options": ["POST"],
        "/auth/enroll/<token>/verify": ["POST"],
        "/auth/logout": ["POST"],
    }


def test_no_password_or_email_link_route(app):
    rules = " ".join(rule.rule for rule in app.url_map.iter_rules())
    for word in ("password", "magic", "dev-login", "bypass"):
        assert word not in rules
