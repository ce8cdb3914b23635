from flask.cli import AppGroup

users_cli = AppGroup("users", help="Staff users.")
