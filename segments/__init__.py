"""Segments: rule trees (typed JSON nodes), their evaluation, live counts and membership."""


def init_app(app) -> None:
    from core.scheduler import JobSpec, register_job
    from segments.cli import segments_cli
    from segments.jobs import refresh_all_segments
    from segments.routes import bp

    app.register_blueprint(bp)
    app.cli.add_command(segments_cli)
    register_job(app, JobSpec("segments.refresh", refresh_all_segments, 300,
                              "recompute segment membership"))
