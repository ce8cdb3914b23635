"""Prometheus-style metrics: `/metrics` in the text exposition format (version 0.0.4).

Two kinds of figures:

- from the database, the same whichever process answers: outbox rows by status, rows due
  and not yet claimed, the age of the oldest due row (the queue's lag);
- from this process's own counters: sends by outcome, claim latency, scheduler job runs.
  In production each process is its own scrape target: web processes answer `/metrics`,
  `flask scheduler` serves its counters on `SCHEDULER_METRICS_PORT` (see `serve`).

Counts only — never a recipient, address or template text. The endpoint is for admins
unless `METRICS_PUBLIC` is true (then restrict it at the proxy to the scrape network).
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from flask import Blueprint, Flask, Response
from sqlalchemy import func, select

from core.clock import utcnow
from core.db import get_session

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
bp = Blueprint("metrics", __name__)


class _Registry:
    """This process's counters (thread-safe: the scheduler runs jobs in threads)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.sends: Counter[str] = Counter()
        self.claims = 0
        self.claimed_rows = 0
        self.claim_seconds = 0.0
        self.job_runs: Counter[tuple[str, str]] = Counter()
        self.job_seconds: Counter[str] = Counter()


REGISTRY = _Registry()


def count_sends(counts: dict[str, int]) -> None:
    """Add one `send_due` run's outcome counts."""
    with REGISTRY.lock:
        REGISTRY.sends.update({k: v for k, v in counts.items() if v})


def observe_claim(seconds: float, rows: int) -> None:
    """One claim transaction: how long it took and how many rows it leased."""
    with REGISTRY.lock:
        REGISTRY.claims += 1
        REGISTRY.claimed_rows += rows
        REGISTRY.claim_seconds += seconds


def job_run(job_id: str, ok: bool, seconds: float) -> None:
    """One run of a scheduled job."""
    with REGISTRY.lock:
        REGISTRY.job_runs[(job_id, "ok" if ok else "error")] += 1
        REGISTRY.job_seconds[job_id] += seconds


def _family(name: str, kind: str, help_text: str, samples: list[tuple[dict, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{label_text}}} {_number(value)}" if label_text
                     else f"{name} {_number(value)}")
    return lines


def _escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def process_lines() -> list[str]:
    """This process's counters as exposition lines."""
    from campaigns.sending import COUNT_KEYS

    r = REGISTRY
    with r.lock:
        lines = _family("sendwell_sends_total", "counter",
                        "Outbox rows settled by this process, by outcome.",
                        [({"outcome": k}, r.sends.get(k, 0)) for k in COUNT_KEYS])
        lines += _family("sendwell_outbox_claims_total", "counter",
                         "Claim transactions run by this process.", [({}, r.claims)])
        lines += _family("sendwell_outbox_claimed_rows_total", "counter",
                         "Outbox rows leased by this process.", [({}, r.claimed_rows)])
        lines += _family("sendwell_outbox_claim_seconds_total", "counter",
                         "Seconds spent in claim transactions (divide by claims).",
                         [({}, round(r.claim_seconds, 6))])
        lines += _family("sendwell_scheduler_job_runs_total", "counter",
                         "Scheduled job runs in this process, by job and result.",
                         [({"job": j, "result": res}, n)
                          for (j, res), n in sorted(r.job_runs.items())])
        lines += _family("sendwell_scheduler_job_seconds_total", "counter",
                         "Seconds spent running each scheduled job in this process.",
                         [({"job": j}, round(s, 6)) for j, s in sorted(r.job_seconds.items())])
    return lines


def database_lines(session) -> list[str]:
    """Outbox figures read from the database (the same from every process)."""
    from campaigns.models import OutboxMessage, OutboxStatus

    by_status = dict(session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    now = utcnow()
    due = (OutboxMessage.status == OutboxStatus.QUEUED, OutboxMessage.due_at <= now)
    due_count = session.scalar(select(func.count()).select_from(OutboxMessage).where(*due))
    oldest = session.scalar(select(func.min(OutboxMessage.due_at)).where(*due))
    lag = (now - oldest).total_seconds() if oldest else 0
    lines = _family("sendwell_outbox_messages", "gauge", "Outbox rows by status.",
                    [({"status": str(s)}, by_status.get(str(s), 0)) for s in OutboxStatus])
    lines += _family("sendwell_outbox_due_messages", "gauge",
                     "Queued outbox rows that are due now (queue depth).", [({}, due_count)])
    lines += _family("sendwell_outbox_oldest_due_age_seconds", "gauge",
                     "How long the oldest due, queued row has waited.", [({}, round(lag, 3))])
    return lines


def render(session=None) -> str:
    lines = database_lines(session) if session is not None else []
    return "\n".join(lines + process_lines()) + "\n"


@bp.get("/metrics")
def export():
    return Response(render(get_session()), content_type=CONTENT_TYPE)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404)
            return
        body = render().encode()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # scrapes are not worth a log line
        pass


def serve(port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve this process's counters on http://host:port/metrics from a daemon thread."""
    server = ThreadingHTTPServer((host, port), _Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


def init_app(app: Flask) -> None:
    """Register `/metrics` once; admins only unless `METRICS_PUBLIC` is true."""
    from auth.models import Role
    from auth.permissions import PUBLIC, allow
    from core.config import parse_bool

    if "metrics" in app.blueprints:
        return
    public = parse_bool("METRICS_PUBLIC", app.config.get("METRICS_PUBLIC", False))
    app.config["METRICS_PUBLIC"] = public
    allow("metrics.export", PUBLIC if public else frozenset({Role.ADMIN}))
    app.register_blueprint(bp)

