from flask.cli import AppGroup

analytics_cli = AppGroup("analytics", help="Engagement analytics.")
