"""Leases in-process: an expired claim goes back to the queue, an expired armed row is
`unknown`, and neither is touched while its lease holds."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from campaigns import outbox
from campaigns.models import OutboxMessage
from core.db import new_session
from tests.campaigns.helpers import NOW, launched_workflow
from tests.factories import make_patient


def test_expired_claims_requeue_and_expired_armed_rows_become_unknown(app, session):
    app.config["SEND_LEASE_SECONDS"] = 60
    for n in range(4):
        make_patient(session, email=f"lease{n}@example.org")
    launched_workflow(session, steps=[{"template": "day0", "delay_days": 0}])
    session.commit()
    with app.app_context(), new_session() as worker:
        claimed = outbox.claim_due(worker, NOW, limit=3)
        rest = outbox.claim_due(worker, NOW, limit=10)  # a second sender gets the 4th
        assert len(claimed) == 3 and len(rest) == 1 and rest[0] not in claimed
        assert outbox.claim_due(worker, NOW, limit=10) == []  # nothing is claimed twice
        assert outbox.arm(worker, claimed[:2], NOW) == 2
        worker.commit()
        assert outbox.expire_leases(worker, NOW + timedelta(seconds=59)) == {
            "unknown": 0, "requeued": 0}
        assert outbox.expire_leases(worker, NOW + timedelta(seconds=61)) == {
            "unknown": 2, "requeued": 2}
        worker.commit()
        listed = outbox.unknown_rows(worker)
    assert sorted(r["id"] for r in listed) == sorted(claimed[:2])
    session.expire_all()
    statuses = sorted(session.scalars(select(OutboxMessage.status)))
    assert statuses == ["queued", "queued", "unknown", "unknown"]
