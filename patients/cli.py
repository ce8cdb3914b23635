from flask.cli import AppGroup

patients_cli = AppGroup("patients", help="Patient profiles.")
