"""The periodic job table: stable ids, registered once, scheduled under those ids."""

from apscheduler.schedulers.background import BackgroundScheduler

from core.scheduler import job_table, schedule_jobs


def test_job_table_has_stable_ids(app):
    assert [job.id for job in job_table(app)] == [
        "campaigns.enroll", "campaigns.send", "segments.refresh",
    ]


def test_scheduler_adds_each_job_under_its_id(app):
    scheduler = schedule_jobs(app, BackgroundScheduler(timezone="UTC"))
    assert sorted(job.id for job in scheduler.get_jobs()) == [
        "campaigns.enroll", "campaigns.send", "segments.refresh",
    ]


def test_scheduled_jobs_run_against_the_database(app):
    from campaigns.jobs import enroll_active_workflows
    from segments.jobs import refresh_all_segments

    with app.app_context():
        assert refresh_all_segments() == 0
        assert enroll_active_workflows() == 0
