"""Email templates, drip workflows, enrolment, the outbox and sending, rendering, PHI policy."""


def init_app(app) -> None:
    from campaigns.cli import sender_cli, workflows_cli
    from campaigns.jobs import enroll_active_workflows, send_due_messages
    from campaigns.routes import bp
    from core.scheduler import JobSpec, register_job

    app.register_blueprint(bp)
    app.cli.add_command(workflows_cli)
    app.cli.add_command(sender_cli)
    register_job(app, JobSpec("campaigns.enroll", enroll_active_workflows, 60,
                              "enrol new segment members into active workflows"))
    register_job(app, JobSpec("campaigns.send", send_due_messages, 30,
                              "send outbox messages that are due"))
