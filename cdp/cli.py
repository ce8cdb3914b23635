import click


@click.command("import-cdp")
def import_cdp() -> None:
    """Import CDP exports (placeholder)."""
