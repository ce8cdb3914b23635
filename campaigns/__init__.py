"""Email templates, drip workflows, enrolment, the outbox and sending, rendering, PHI policy."""


def init_app(app) -> None:
    from campaigns.cli import sender_cli, workflows_cli
    from campaigns.routes import bp

    app.register_blueprint(bp)
    app.cli.add_command(workflows_cli)
    app.cli.add_command(sender_cli)
