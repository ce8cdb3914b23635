"""One scheduler per database: a second `flask scheduler` refuses to start (exit 1).

In-process tests cover the lock on SQLite (a lock file) and PostgreSQL (an advisory lock);
the process test starts two real schedulers at once over a launched workflow and checks
that exactly one runs, and that every patient is enrolled and mailed exactly once.
"""

from __future__ import annotations

import signal
import time

from sqlalchemy import func, select

from campaigns.models import Enrollment, OutboxMessage
from core.db import engine, new_session
from core.dev_smtp import DevSmtpServer
from core.scheduler import SchedulerLock
from tests.factories import make_patient

from .harness import Child, campaign, caught_count, caught_message_ids, child_env, wait_for

PATIENTS = 20
REFUSAL = "another scheduler is already running for this database"


def test_a_second_lock_is_refused_until_the_first_is_released(app):
    with app.app_context():
        first = SchedulerLock(engine(), app.instance_path)
        second = SchedulerLock(engine(), app.instance_path)
        assert first.acquire() is True
        try:
            assert second.acquire() is False
            assert first.alive() is True
        finally:
            first.release()
        assert second.acquire() is True
        second.release()


def test_scheduler_command_refuses_while_another_holds_the_lock(app, runner):
    with app.app_context():
        holder = SchedulerLock(engine(), app.instance_path)
        assert holder.acquire()
        try:
            result = runner.invoke(args=["scheduler"])
        finally:
            holder.release()
    assert result.exit_code == 1
    assert REFUSAL in result.output


def _seed(app) -> None:
    with app.app_context(), new_session() as session:
        for n in range(PATIENTS):
            make_patient(session, email=f"sched{n}@example.org")
        campaign(session)  # active workflow; nobody enrolled yet: the scheduler does it
        session.commit()


def _rows(app, model) -> int:
    with app.app_context(), new_session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_two_scheduler_processes_enrol_and_send_once(production_app, pg_url, instance,
                                                     tmp_path, started):
    app = production_app(SCHEDULER_JOB_SECONDS=1)
    _seed(app)
    with DevSmtpServer(app) as smtp:
        env = child_env(pg_url, instance, smtp)
        pair = [Child(["scheduler"], env, tmp_path / f"scheduler{i}.log") for i in range(2)]
        started.extend(pair)
        assert pair[0].pid != pair[1].pid
        refused = wait_for(lambda: [c for c in pair if c.proc.poll() is not None], 60,
                           what="the second scheduler to give up")
        assert len(refused) == 1 and refused[0].proc.returncode == 1
        assert REFUSAL in refused[0].output()
        [running] = [c for c in pair if c is not refused[0]]
        wait_for(lambda: caught_count(app) >= PATIENTS, 60, what="every patient mailed")
        time.sleep(3)  # three more ticks of every job: nothing new may go out
        assert running.proc.poll() is None, running.output()[-3000:]

        running.stop(signal.SIGKILL)  # the lock dies with its holder
        successor = Child(["scheduler"], env, tmp_path / "successor.log")
        started.append(successor)
        wait_for(lambda: "holding the PostgreSQL advisory lock" in successor.output(), 60,
                 what="a new scheduler to take the lock")
        time.sleep(2)
        assert successor.proc.poll() is None, successor.output()[-3000:]
        successor.stop()

    caught = caught_message_ids(app)
    assert len(caught) == PATIENTS and set(caught.values()) == {1}
    assert _rows(app, Enrollment) == PATIENTS
    assert _rows(app, OutboxMessage) == PATIENTS
