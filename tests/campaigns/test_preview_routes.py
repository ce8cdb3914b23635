"""The step preview page, and launch / pause / resume from the workflow page."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from sqlalchemy import func, select

from auth.models import Role
from campaigns import service
from campaigns.models import EmailTemplate, Enrollment, OutboxMessage, Workflow
from core.db import new_id
from core.models import AuditEvent
from tests.factories import make_patient
from tests.web import allow_test_sign_in, sign_in_as

from .helpers import HTML, SUBJECT, TEXT, everyone_segment

MISSING = "missing merge field: screening_type (no fallback)"
SCREENING_HTML = ("<html><body><p>Hi {{ first_name }}, book your {{ screening_type }}.</p>"
                  "</body></html>")
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@pytest.fixture
def signed_in(app, client, monkeypatch):
    allow_test_sign_in(app, monkeypatch)

    def sign_in(session, role=Role.MARKETER):
        sign_in_as(client, session, role)
        return client

    return sign_in


def drip(session, purpose="care_reminder"):
    service.create_template(session, "day0", SUBJECT, HTML, TEXT)
    service.create_template(session, "day3", "Screening time", SCREENING_HTML,
                            "Book your {{ screening_type }}.")
    workflow = service.create_workflow(
        session, "Screening", everyone_segment(session),
        [{"template": "day0", "delay_days": 0}, {"template": "day3", "delay_days": 3}],
        purpose=purpose)
    session.commit()
    return workflow


def preview_url(workflow, number, patient=None) -> str:
    url = f"/campaigns/{workflow.id}/steps/{number}/preview"
    return f"{url}?patient={patient}" if patient else url


def test_preview_renders_first_recipient_in_a_sandboxed_frame(session, client, signed_in):
    a = make_patient(session, first_name="Maya", traits={"screening_type": "mammogram"})
    b = make_patient(session, first_name="Ana", traits={"screening_type": "colonoscopy"})
    lacking = make_patient(session, first_name="Zebulon")
    workflow = drip(session)
    signed_in(session)
    response = client.get(preview_url(workflow, 2))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    first = min([a, b], key=lambda p: p.id)
    name, screening = ("Maya", "mammogram") if first is a else ("Ana", "colonoscopy")
    srcdoc = re.search(r'<iframe sandbox [^>]*srcdoc="([^"]*)"', page).group(1)
    assert f"<p>Hi {name}, book your {screening}.</p>" in html_lib.unescape(srcdoc)
    assert "<script" not in html_lib.unescape(srcdoc) and "/t/o/" not in srcdoc
    assert "<dt>Subject</dt><dd>Screening time</dd>" in page
    assert f"Book your {screening}." in page  # the text part
    # the launch report lists the failure before launch, by internal id
    assert f"<code>{lacking.id}</code>" in page and MISSING in page
    assert "Zebulon" not in page  # a skipped patient's data is never shown
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-src" not in csp and "script-src 'self'" in csp
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "phi.view")).one()
    assert event.target == f"workflow/{workflow.id}/step/2"
    assert first.id in event.details and "Maya" not in event.details


def test_preview_for_a_chosen_patient_shows_why_they_fail(session, client, signed_in):
    make_patient(session, traits={"screening_type": "mammogram"})
    lacking = make_patient(session)
    opted_out = make_patient(session, email_opt_in="no", traits={"screening_type": "x"})
    workflow = drip(session)
    signed_in(session)
    page = client.get(preview_url(workflow, 2, lacking.id)).get_data(as_text=True)
    assert MISSING in page and "<iframe" not in page
    page = client.get(preview_url(workflow, 2, opted_out.id)).get_data(as_text=True)
    assert "this patient would be skipped: opted_out" in page and "<iframe" in page


def test_preview_refuses_non_members_and_unknown_steps(session, client, signed_in):
    make_patient(session)
    workflow = drip(session)
    signed_in(session)
    assert client.get(preview_url(workflow, 1, "0" * 32)).status_code == 404
    assert client.get(preview_url(workflow, 3)).status_code == 404
    assert client.get(preview_url(workflow, 0)).status_code == 404


def test_marketing_preview_shows_the_postal_address_footer(app, session, client, signed_in):
    make_patient(session, marketing_authorized_at="2023-01-05")
    service.create_template(session, "promo", "News", HTML, TEXT)
    workflow = service.create_workflow(session, "Promo", everyone_segment(session),
                                       [{"template": "promo", "delay_days": 0}],
                                       purpose="marketing")
    session.commit()
    signed_in(session)
    page = html_lib.unescape(client.get(preview_url(workflow, 1)).get_data(as_text=True))
    assert page.count(app.config["ORG_POSTAL_ADDRESS"]) == 2  # HTML frame and text part


@pytest.mark.parametrize(("role", "status"), [(Role.ADMIN, 200), (Role.MARKETER, 200),
                                              (Role.MANAGER, 403), (Role.COMPLIANCE, 403)])
def test_preview_is_for_marketers_and_admins(session, client, signed_in, role, status):
    make_patient(session)
    workflow = drip(session)
    signed_in(session, role)
    assert client.get(preview_url(workflow, 1)).status_code == status
    detail = client.get(f"/campaigns/{workflow.id}").get_data(as_text=True)
    assert (preview_url(workflow, 1) in detail) is (status == 200)
    assert ("Launch</button>" in detail) is (status == 200)


def post(client, workflow, action, with_token=True):
    page = client.get(f"/campaigns/{workflow.id}").get_data(as_text=True)
    data = {"csrf_token": CSRF_META.search(page).group(1)} if with_token else {}
    return client.post(f"/campaigns/{workflow.id}/{action}", data=data, follow_redirects=True)


def status_of(session, workflow) -> str:
    session.expire_all()
    return session.get(Workflow, workflow.id).status


def test_launch_pause_and_resume_buttons(session, client, signed_in):
    make_patient(session, traits={"screening_type": "mammogram"})
    make_patient(session, traits={"screening_type": "mammogram"})
    workflow = drip(session)
    signed_in(session)
    page = post(client, workflow, "launch").get_data(as_text=True)
    assert "Launched: 2 patients enrolled." in page and status_of(session, workflow) == "active"
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 4
    page = post(client, workflow, "pause").get_data(as_text=True)
    assert "Paused" in page and "Resume</button>" in page
    assert status_of(session, workflow) == "paused"
    post(client, workflow, "resume")
    assert status_of(session, workflow) == "active"
    page = post(client, workflow, "resume").get_data(as_text=True)
    assert "the workflow is already active" in page


def test_launch_refused_by_policy_is_flashed_and_queues_nothing(session, client, signed_in):
    make_patient(session, traits={"screening_type": "mammogram"})
    session.add(EmailTemplate(id=new_id(), name="legacy", subject="Your {{ screening_type }}",
                              html=HTML, text=TEXT, preheader=""))
    workflow = service.create_workflow(session, "Legacy", everyone_segment(session),
                                       [{"template": "legacy", "delay_days": 0}])
    session.commit()
    signed_in(session)
    detail = client.get(f"/campaigns/{workflow.id}").get_data(as_text=True)
    assert "Refused by the PHI policy" in detail
    page = html_lib.unescape(post(client, workflow, "launch").get_data(as_text=True))
    assert ("step 1 (template 'legacy'): clinical merge field 'screening_type' is not allowed "
            "in the subject") in page
    assert status_of(session, workflow) == "draft"
    assert session.scalar(select(func.count()).select_from(Enrollment)) == 0


@pytest.mark.parametrize(("role", "with_token", "status"),
                         [(Role.MARKETER, False, 400), (Role.MANAGER, True, 403),
                          (Role.COMPLIANCE, True, 403)])
def test_state_changes_need_csrf_and_a_permitted_role(session, client, signed_in, role,
                                                      with_token, status):
    make_patient(session)
    workflow = drip(session)
    signed_in(session, role)
    for action in ("launch", "pause", "resume"):
        assert post(client, workflow, action, with_token).status_code == status
    assert status_of(session, workflow) == "draft"


def test_pause_of_a_draft_is_refused_with_the_reason(session, client, signed_in):
    make_patient(session)
    workflow = drip(session)
    signed_in(session)
    page = html_lib.unescape(post(client, workflow, "pause").get_data(as_text=True))
    assert "a draft workflow has not started; activate it instead" in page
