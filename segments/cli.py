from flask.cli import AppGroup

segments_cli = AppGroup("segments", help="Segments.")
