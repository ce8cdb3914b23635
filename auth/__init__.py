"""Staff users, roles and passkey (WebAuthn) sign-in; the only package importing `webauthn`.

Also server-side sessions, step-up, recovery codes, rate limits on the sign-in endpoints
and the compliance (audit trail) pages.
"""


def init_app(app) -> None:
    from auth import permissions, ratelimit, recovery_routes, sessions, stepup_routes  # noqa: F401
    from auth.cli import users_cli
    from auth.compliance import bp as compliance_bp
    from auth.routes import bp

    # Order matters: resolve the session cookie, then rate-limit, then check permissions.
    sessions.init_app(app)
    ratelimit.init_app(app)
    permissions.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(compliance_bp)
    app.cli.add_command(users_cli)
