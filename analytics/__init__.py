"""Open/click/conversion tracking, unsubscribe, rollups and the Plotly dashboards."""


def init_app(app) -> None:
    from analytics.cli import analytics_cli
    from analytics.routes import bp
    from analytics.tracking import bp as tracking_bp

    app.register_blueprint(bp)
    app.register_blueprint(tracking_bp)
    app.cli.add_command(analytics_cli)
