"""`/metrics`: Prometheus text with outbox depth by status, sends by outcome, job runs."""

from __future__ import annotations

import urllib.request
from datetime import timedelta

import pytest

from auth.models import Role
from auth.permissions import ROUTE_PERMISSIONS
from campaigns.models import OutboxMessage
from core import metrics
from core.clock import utcnow
from core.scheduler import JobSpec, _runner
from tests.campaigns.helpers import launched_workflow
from tests.factories import make_patient
from tests.web import allow_test_sign_in, sign_in_as


@pytest.fixture(autouse=True)
def _fresh_counters():
    metrics.REGISTRY.reset()
    yield
    metrics.REGISTRY.reset()


def samples(body: str) -> dict[str, float]:
    """{'name{labels}': value} of every sample line."""
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in body.splitlines() if line and not line.startswith("#")}


def test_metrics_need_an_admin_by_default(app, client, session, monkeypatch):
    allow_test_sign_in(app, monkeypatch)
    assert ROUTE_PERMISSIONS["metrics.export"] == frozenset({Role.ADMIN})
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]
    sign_in_as(client, session, Role.MARKETER)
    assert client.get("/metrics").status_code == 403


def test_admin_sees_outbox_depth_by_status_and_process_counters(app, client, session,
                                                                 monkeypatch):
    for n in range(3):
        make_patient(session, email=f"m{n}@example.org")
    now = utcnow()
    launched_workflow(session, now=now - timedelta(minutes=5))  # 3 due now, 3 in 3 days
    row = session.query(OutboxMessage).filter_by(step_index=0).first()
    row.status = "unknown"
    session.commit()
    metrics.count_sends({"sent": 7, "unknown": 1, "retry": 0})
    metrics.observe_claim(0.25, 20)
    allow_test_sign_in(app, monkeypatch)
    sign_in_as(client, session, Role.ADMIN)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE sendwell_outbox_messages gauge" in response.text
    got = samples(response.text)
    assert got['sendwell_outbox_messages{status="queued"}'] == 5
    assert got['sendwell_outbox_messages{status="unknown"}'] == 1
    assert got['sendwell_outbox_messages{status="sent"}'] == 0
    assert got["sendwell_outbox_due_messages"] == 2
    assert 290 <= got["sendwell_outbox_oldest_due_age_seconds"] <= 400
    assert got['sendwell_sends_total{outcome="sent"}'] == 7
    assert got['sendwell_sends_total{outcome="unknown"}'] == 1
    assert got["sendwell_outbox_claims_total"] == 1
    assert got["sendwell_outbox_claimed_rows_total"] == 20
    assert got["sendwell_outbox_claim_seconds_total"] == 0.25
    assert "example.org" not in response.text  # counts only, never an address


def test_metrics_public_when_configured(app_config, request, monkeypatch):
    monkeypatch.setitem(ROUTE_PERMISSIONS, "metrics.export", frozenset({Role.ADMIN}))
    app_config["METRICS_PUBLIC"] = "true"
    client = request.getfixturevalue("client")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert samples(response.text)['sendwell_outbox_messages{status="queued"}'] == 0


def test_scheduler_job_runs_are_counted_and_served_by_the_scheduler_process(app):
    def broken():
        raise RuntimeError("boom")

    _runner(app, JobSpec("demo.ok", lambda: None, 60))()
    _runner(app, JobSpec("demo.ok", lambda: None, 60))()
    _runner(app, JobSpec("demo.broken", broken, 60))()

    server = metrics.serve(0)
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            body = reply.read().decode()
            assert reply.headers["Content-Type"] == metrics.CONTENT_TYPE
    finally:
        server.shutdown()
        server.server_close()
    got = samples(body)
    assert got['sendwell_scheduler_job_runs_total{job="demo.ok",result="ok"}'] == 2
    assert got['sendwell_scheduler_job_runs_total{job="demo.broken",result="error"}'] == 1
    assert 'sendwell_scheduler_job_seconds_total{job="demo.ok"}' in got
