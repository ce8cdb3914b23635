from flask.cli import AppGroup

workflows_cli = AppGroup("workflows", help="Drip workflows.")
sender_cli = AppGroup("sender", help="Sending.")
