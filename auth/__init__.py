"""Staff users, roles and passkey (WebAuthn) sign-in; the only package importing `webauthn`."""


def init_app(app) -> None:
    from auth import permissions
    from auth.cli import users_cli
    from auth.routes import bp, login_manager

    login_manager.init_app(app)
    permissions.init_app(app)
    app.register_blueprint(bp)
    app.cli.add_command(users_cli)
