"""A sender killed with SIGKILL mid-batch, then restarted: one final state per row.

Rows the killed sender had armed (handed, or about to be handed, to the relay) end
`unknown` once the lease runs out, are listed by `outbox.unknown_rows` and are never sent
again; rows it had only claimed go back to the queue and are sent by the restarted sender.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

from sqlalchemy import select

from campaigns import outbox
from campaigns.models import OutboxMessage
from campaigns.sending import COMMIT_EVERY
from core.db import new_session
from core.dev_smtp import DevSmtpServer

from .harness import (
    Child,
    caught_count,
    caught_message_ids,
    child_env,
    outbox_statuses,
    seed_due_outbox,
    wait_for,
)

ROWS = 400
LEASE_SECONDS = 3
FINAL = {"sent", "unknown"}


def sending_rows(app) -> dict[str, str]:
    """{message_id: note} of rows still `sending` (the note tells armed from claimed)."""
    with app.app_context(), new_session() as session:
        query = select(OutboxMessage.message_id, OutboxMessage.last_error).where(
            OutboxMessage.status == "sending")
        return {message_id: note for message_id, note in session.execute(query)}


def test_sigkilled_sender_leaves_in_flight_rows_unknown_and_the_rest_sent(
        production_app, pg_url, instance, tmp_path, started):
    app = production_app(SEND_LEASE_SECONDS=LEASE_SECONDS, SEND_CLAIM_LIMIT=100)
    seed_due_outbox(app, ROWS)
    with DevSmtpServer(app) as smtp:
        env = child_env(pg_url, instance, smtp)
        sender = Child(["sender", "--interval", "1"], env, tmp_path / "sender.log")
        started.append(sender)
        wait_for(lambda: caught_count(app) >= 130, 60, what="130 messages sent")  # mid-batch
        sender.stop(signal.SIGKILL)
        assert sender.proc.returncode == -signal.SIGKILL
        time.sleep(0.5)  # let the catcher store a message whose DATA was under way
        at_kill = sending_rows(app)
        in_flight = {m for m, note in at_kill.items() if note == outbox.ARMED_NOTE}
        only_claimed = set(at_kill) - in_flight
        caught_at_kill = caught_message_ids(app)
        assert 0 < len(in_flight) <= COMMIT_EVERY, at_kill
        assert only_claimed  # a claim of 100 covers several batches of 20

        time.sleep(LEASE_SECONDS + 0.5)
        restarted = Child(["sender", "run-once", "--json"], env, tmp_path / "restart.log")
        started.append(restarted)
        assert restarted.wait(60) == 0, restarted.output()[-3000:]
    counts = json.loads(restarted.output().strip().splitlines()[-1])
    assert counts["unknown"] == len(in_flight)
    assert counts["released"] == len(only_claimed)

    statuses = outbox_statuses(app)
    assert len(statuses) == ROWS and set(statuses.values()) <= FINAL
    unknown = {m for m, s in statuses.items() if s == "unknown"}
    assert unknown == in_flight
    with app.app_context(), new_session() as session:
        listed = outbox.unknown_rows(session)
    assert {r["message_id"] for r in listed} == in_flight
    assert {r["reason"] for r in listed} == {outbox.ARMED_NOTE}

    caught = caught_message_ids(app)
    assert max(caught.values()) == 1  # nothing was sent twice
    assert {m: caught[m] for m in in_flight} == {m: caught_at_kill[m] for m in in_flight}
    sent = {m for m, s in statuses.items() if s == "sent"}
    assert Counter({m: caught[m] for m in sent}) == Counter(dict.fromkeys(sent, 1))
    assert set(caught) <= sent | in_flight
