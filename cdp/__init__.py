"""Everything that comes in from the CDP: format readers, mapping, validation, import reports."""


def init_app(app) -> None:
    from cdp.cli import import_cdp

    app.cli.add_command(import_cdp)
