"""The guided demo: bundled sample import, example segments and drip, local SMTP, serving."""


def init_app(app) -> None:
    from demo.cli import demo_command
    from demo.routes import bp

    app.register_blueprint(bp)
    app.cli.add_command(demo_command)
