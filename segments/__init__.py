"""Segments: rule trees (typed JSON nodes), their evaluation, live counts and membership."""


def init_app(app) -> None:
    from segments.cli import segments_cli
    from segments.routes import bp

    app.register_blueprint(bp)
    app.cli.add_command(segments_cli)
