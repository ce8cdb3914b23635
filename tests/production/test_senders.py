"""Four real sender processes over one large due step: every idempotency key sent once.

The dev SMTP server (STARTTLS, verified) runs in the test process and stores what it
receives; counting its messages per Message-ID is the ground truth. With the test-only
`TEST_UNSAFE_CLAIM` (no row lock, no compare-and-set, a pause between select and update)
the same test sees duplicates — the proof that it can fail.

Figures on the 2-core machine (PostgreSQL, 4 senders, claims of 25): 3,000 rows in ~50 s
end to end (seeding ~2 s, sending ~49 s including start-up of the four processes, ~60
messages/s, each sender ~750), bounded by the single-threaded catcher that encrypts and
commits each message and by the two cores everything shares. The unsafe variant: 400 rows,
~20 s, ~800 messages received.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from core import audit
from core.db import new_session
from core.dev_smtp import DevSmtpServer

from .harness import (
    Child,
    caught_message_ids,
    child_env,
    outbox_statuses,
    seed_due_outbox,
)

ROWS = 3000
UNSAFE_ROWS = 400
SENDERS = 4
TIMEOUT = 100


def run_senders(app, pg_url, instance, tmp_path, started) -> list[dict]:
    """Start SENDERS `flask sender run-once` processes together; their JSON counts."""
    with DevSmtpServer(app) as smtp:
        env = child_env(pg_url, instance, smtp)
        senders = [Child(["sender", "run-once", "--json"], env, tmp_path / f"sender{i}.log")
                   for i in range(SENDERS)]
        started.extend(senders)
        assert len({s.pid for s in senders}) == SENDERS  # distinct OS processes
        for sender in senders:
            assert sender.wait(TIMEOUT) == 0, sender.output()[-3000:]
    return [json.loads(s.output().strip().splitlines()[-1]) for s in senders]


@pytest.mark.parametrize(("unsafe", "rows"), [(False, ROWS), (True, UNSAFE_ROWS)],
                         ids=["row-lock", "unsafe-claim"])
def test_four_senders_send_every_key_exactly_once(production_app, pg_url, instance, tmp_path,
                                                  started, unsafe, rows):
    app = production_app(SEND_CLAIM_LIMIT=25, TEST_UNSAFE_CLAIM=unsafe)
    started_at = time.monotonic()
    seed_due_outbox(app, rows)
    seeded_at = time.monotonic()
    counts = run_senders(app, pg_url, instance, tmp_path, started)
    print(f"\n{rows} rows: seeding {seeded_at - started_at:.1f}s, "
          f"sending {time.monotonic() - seeded_at:.1f}s, per sender {counts}")

    received = caught_message_ids(app)
    statuses = outbox_statuses(app)
    if unsafe:
        duplicated = [mid for mid, n in received.items() if n > 1]
        assert duplicated, "the unsafe claim should have sent some messages twice"
        assert sum(c["sent"] for c in counts) > rows
        return
    assert Counter(statuses.values()) == {"sent": rows}
    assert received == Counter(dict.fromkeys(statuses, 1))  # each key once, none extra
    assert sum(c["sent"] for c in counts) == rows
    assert sum(1 for c in counts if c["sent"]) >= 2  # the work really was shared
    with app.app_context(), new_session() as session:
        assert audit.verify(session)[0]  # concurrent senders did not fork the audit chain
