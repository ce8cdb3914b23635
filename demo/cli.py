"""`flask demo [--check]`: the whole product on the bundled sample, on free local ports."""

from __future__ import annotations

import json
import socket
import threading
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from werkzeug.serving import WSGIRequestHandler, make_server

from core.clock import isoz
from core.dev_smtp import DevSmtpServer
from core.redact import redact
from core.scheduler import background_scheduler
from demo import pipeline


def free_port(preferred: int) -> int:
    """`preferred` if nothing listens there, else any free port."""
    for candidate in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise click.ClickException("no free port for the web server")


def configure_for_local(app: Flask, port: int, smtp: DevSmtpServer) -> None:
    origin = f"http://localhost:{port}"
    app.config.update(
        BASE_URL=origin, RP_ID="localhost", RP_ORIGIN=origin, DEV_MAILBOX=True,
        SMTP_URL=f"smtp://localhost:{smtp.port}", SMTP_CA_FILE=str(smtp.ca_file),
    )


class RedactingRequestHandler(WSGIRequestHandler):
    """The development server's access log, without URL tokens or control characters."""

    def log_request(self, code="-", size="-") -> None:
        self.log("info", '"%s" %s %s', redact(self.requestline), code, size)


def start_web(app: Flask, port: int):
    server = make_server(
        "localhost", port, app, threaded=True, request_handler=RedactingRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="web", daemon=True)
    thread.start()
    return server


@click.command("demo")
@click.option("--check", is_flag=True, help="Run the pipeline, print a JSON summary, exit.")
@click.option("--port", default=5000, show_default=True, help="Preferred web port.")
@with_appcontext
def demo_command(check: bool, port: int) -> None:
    """Import the bundled sample, create segments and a drip, send it to a local SMTP
    server, record an open and a click, then serve the app (or, with --check, report)."""
    app = current_app._get_current_object()
    smtp = DevSmtpServer(app, host="localhost", port=0)
    smtp.start()
    web_port = free_port(port)
    configure_for_local(app, web_port, smtp)
    # The demo lives at the sample's end: the drip's last step has just gone out.
    app.config["CLOCK_START"] = isoz(pipeline.DEMO_START + timedelta(days=3, hours=2))
    server = start_web(app, web_port)
    try:
        click.echo("importing the bundled sample and running the drip…", err=True)
        result = pipeline.run_pipeline(app)
        if check:
            report = pipeline.summary(app, result)
            Path(app.instance_path, "demo-check.json").write_text(json.dumps(report, indent=2))
            click.echo(json.dumps(report))
            ok = report["smtp_tls"] and report["messages_sent"] == report["messages_received"]
            raise SystemExit(0 if ok else 1)
        serve(app, server, result)
    finally:
        server.shutdown()
        smtp.stop()


def serve(app: Flask, server, result: pipeline.DemoResult) -> None:
    from auth.service import admin_enrollment_link

    link = admin_enrollment_link(app, "admin@sendwell.example.org")
    scheduler = background_scheduler(app)
    scheduler.start()
    base = app.config["BASE_URL"]
    click.echo(
        f"\nSendwell is running at {base}\n"
        f"  imported {result.import_report['patients_seen']} patients; segments: "
        f"{', '.join(f'{k} ({v})' for k, v in result.segments.items())}\n"
        f"  register the first admin's passkey (one-time link): {link}\n"
        f"  caught mail: {base}/dev/mailbox · press Ctrl-C to stop\n",
        err=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping", err=True)
    finally:
        scheduler.shutdown(wait=False)
