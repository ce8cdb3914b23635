"""Patient profiles (encrypted), derived facets, behavioural events, consent and suppression."""


def init_app(app) -> None:
    from patients.cli import patients_cli

    app.cli.add_command(patients_cli)
