"""The demo's end-to-end run on the bundled sample: import, segments, drip, sends,
a simulated open and click through the real HTTP endpoints, and the summary.

Every step is idempotent, so running the demo again changes nothing.
"""

from __future__ import annotations

import json
import quopri
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from analytics import service as analytics_service
from campaigns import service as campaigns_service
from campaigns.models import OutboxMessage, OutboxStatus, Workflow
from campaigns.sending import send_due
from cdp import service as cdp_service
from core.audit import record
from core.clock import as_of_instant
from core.crypto import key_ring
from core.db import new_session
from core.mail_transport import SmtpTransport
from core.models import CaughtMessage
from patients.consent import skip_reason
from patients.facets import facet_frame
from patients.models import Patient
from segments import service as segments_service

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample"
SAMPLE_PATHS = [
    SAMPLE / "synthea-csv-nebraska",
    SAMPLE / "cdp-nebraska" / "contacts.csv",
    SAMPLE / "cdp-nebraska" / "events.ndjson",
]
SEGMENT_EXAMPLES = REPO / "segments" / "examples"
CAMPAIGN_EXAMPLES = REPO / "campaigns" / "examples"
DEMO_AS_OF = date(2023, 12, 31)
# 09:00 in Chicago on the sample's last day: when the demo's drip starts.
DEMO_START = datetime(2023, 12, 31, 15, 0, tzinfo=UTC)
HUMAN_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
PRIVACY_PROXY_UA = "Mozilla/5.0"  # what Apple Mail Privacy Protection's fetcher sends


@dataclass
class DemoResult:
    import_report: dict
    segments: dict[str, int]
    send_reports: list[dict]


def import_sample(app: Flask) -> dict:
    with app.app_context(), new_session() as session:
        report = cdp_service.import_paths(session, SAMPLE_PATHS, as_of=DEMO_AS_OF)
        if report["status"] == "failed":
            session.rollback()
        else:
            session.commit()
    return report


def create_segments(app: Flask) -> dict[str, int]:
    """Create each example segment and bring its membership up to the demo date."""
    counts: dict[str, int] = {}
    as_of = as_of_instant(DEMO_AS_OF, app.config["ORG_TIMEZONE"])
    with app.app_context(), new_session() as session:
        population = segments_service.load_population(session)
        for path in sorted(SEGMENT_EXAMPLES.glob("*.json")):
            spec = json.loads(path.read_text())
            segment = segments_service.create_segment(
                session, spec["name"], spec["rule"], spec.get("description", "")
            )
            segments_service.refresh_membership(session, segment, as_of, population)
            counts[segment.name] = len(segments_service.member_ids(session, segment))
        session.commit()
    return counts


def create_drip(app: Flask) -> str:
    """The example templates and two-step drip, launched for its segment."""
    spec = json.loads((CAMPAIGN_EXAMPLES / "demo_drip.json").read_text())
    with app.app_context(), new_session() as session:
        for template in spec["templates"]:
            campaigns_service.create_template(session, **template)
        segment = segments_service.get_segment(session, spec["segment"])
        workflow = campaigns_service.create_workflow(
            session, spec["name"], segment, spec["steps"], spec.get("purpose", "care_reminder")
        )
        campaigns_service.launch_workflow(session, workflow, DEMO_START)
        session.commit()
        return workflow.name


def send_steps(app: Flask, step_days: list[int]) -> list[dict]:
    """Run the sender at each step's day on a simulated clock (an hour after it is due)."""
    reports = []
    transport = SmtpTransport.from_config(app.config)
    with app.app_context():
        for days in step_days:
            now = DEMO_START + timedelta(days=days, hours=1)
            reports.append(send_due(new_session, now, transport, app.config["BASE_URL"]))
    return reports


def simulate_engagement(app: Flask) -> dict[str, int]:
    """Readers open and click caught messages over real HTTP, as people (and one privacy
    proxy) would: a fixed pattern over the messages in the order they arrived, so a second
    run repeats the same hits and unique counts do not change."""
    hits = {"opens": 0, "clicks": 0, "machine_opens": 0}
    for index, raw in enumerate(_caught_raw(app)):
        pixel, link = _tracking_urls(app, raw)
        share = index % 10
        if share < 6 and pixel and _http_status(pixel, HUMAN_UA) == 200:
            hits["opens"] += 1
        if share < 3 and link and _http_status(link, HUMAN_UA) == 302:
            hits["clicks"] += 1
        if share == 9 and pixel and _http_status(pixel, PRIVACY_PROXY_UA) == 200:
            hits["machine_opens"] += 1
    return hits


def _caught_raw(app: Flask) -> list[str]:
    with app.app_context(), new_session() as session:
        ring = key_ring()
        caught = session.scalars(
            select(CaughtMessage).order_by(CaughtMessage.received_at, CaughtMessage.id)
        )
        return [ring.decrypt(m.raw, "caught_messages", "raw", m.id).decode() for m in caught]


def _tracking_urls(app: Flask, raw: str) -> tuple[str | None, str | None]:
    text = quopri.decodestring(raw.encode()).decode("utf-8", "replace")
    base = re.escape(app.config["BASE_URL"])
    pixel = re.search(rf"{base}/t/o/[A-Za-z0-9_\-]+\.gif", text)
    link = re.search(rf"{base}/t/c/[A-Za-z0-9_\-]+", text)
    return (pixel.group(0) if pixel else None), (link.group(0) if link else None)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _http_status(url: str, user_agent: str) -> int:
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers={"User-Agent": user_agent})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def summary(app: Flask, result: DemoResult) -> dict:
    """The `flask demo --check` JSON of INTERFACES.md."""
    with app.app_context(), new_session() as session:
        patients = session.scalar(select(func.count()).select_from(Patient))
        frame = facet_frame(session)
        reachable = sum(
            1 for row in frame.reset_index().to_dict("records")
            if skip_reason(row, "care_reminder", DEMO_AS_OF) is None
        )
        sent = session.scalar(
            select(func.count()).select_from(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.SENT)
        )
        caught = session.scalars(select(CaughtMessage)).all()
        totals = analytics_service.summary(session)["totals"]
        record(session, "demo", "demo.check", messages_sent=sent)
        session.commit()
    return {
        "patients": patients,
        "reachable": reachable,
        "rejected_rows": result.import_report["rejected"],
        "segments": result.segments,
        "messages_sent": sent,
        "messages_received": len(caught),
        "smtp_tls": bool(caught) and all(message.tls for message in caught),
        "opens": totals["unique_opens"],
        "clicks": totals["clicks"],
        "machine_opens": totals.get("machine_opens", 0),
        "import_errors": len(result.import_report["errors"]),
    }


def run_pipeline(app: Flask) -> DemoResult:
    report = import_sample(app)
    if report["status"] == "failed":
        raise RuntimeError(f"sample import failed: {report['errors'][:3]}")
    segments = create_segments(app)
    create_drip(app)
    drip = json.loads((CAMPAIGN_EXAMPLES / "demo_drip.json").read_text())
    sends = send_steps(app, [step["delay_days"] for step in drip["steps"]])
    simulate_engagement(app)
    return DemoResult(report, segments, sends)


def workflow_names(app: Flask) -> list[str]:
    with app.app_context(), new_session() as session:
        return list(session.scalars(select(Workflow.name)))
