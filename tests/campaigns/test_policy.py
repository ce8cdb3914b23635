"""The PHI policy at launch: sensitive fields by place and purpose, the marketing address."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from campaigns import policy, service
from campaigns.models import EmailTemplate, Enrollment, OutboxMessage, WorkflowStatus
from campaigns.rendering import TemplateParts, render_message
from core.db import new_id
from tests.factories import make_patient

from .helpers import HTML, SUBJECT, TEXT, everyone_segment

NOW = datetime(2023, 12, 31, 15, tzinfo=UTC)
ADDRESS = "Sendwell Health, 100 Main Street, Omaha, NE 68102"
BODY_CLINICAL = "<p>Your {{ screening_type | default('screening', true) }} is due.</p>"


def parts(subject="Hello", html="<p>Hi</p>", text="Hi", preheader="") -> TemplateParts:
    return TemplateParts(subject, html, text, preheader)


@pytest.mark.parametrize(
    ("template", "purpose", "expected"),
    [
        (parts(), "operations", []),
        (parts(subject="Hi {{ first_name }}"), "marketing", []),
        (parts(subject="Your {{ screening_type }}"), "care_reminder",
         [("screening_type", "the subject")]),
        (parts(preheader="{{ screening_type }} due"), "care_reminder",
         [("screening_type", "the preheader")]),
        (parts(html=BODY_CLINICAL), "care_reminder", []),
        (parts(html=BODY_CLINICAL), "operations",
         [("screening_type", "the body of a message with purpose 'operations'")]),
        (parts(text="{% if screening_type %}Due{% endif %}"), "marketing",
         [("screening_type", "the body of a message with purpose 'marketing'")]),
        (parts(html='<a href="https://p.example.org/?n={{ first_name }}">Go</a>'),
         "care_reminder", [("first_name", "a link or image URL in the HTML part")]),
        (parts(html="<img src='https://p.example.org/{{ screening_type }}.png'>"),
         "care_reminder", [("screening_type", "a link or image URL in the HTML part")]),
        (parts(html='<a href="{{ unsubscribe_url }}">Unsubscribe</a>'), "marketing", []),
        (parts(text="Book: https://p.example.org/b?t={{ screening_type }} now"),
         "care_reminder", [("screening_type", "a URL in the text part")]),
        (parts(text="Hi {{ first_name }}, see https://p.example.org/b"), "care_reminder", []),
    ],
)
def test_sensitive_fields_by_place_and_purpose(template, purpose, expected):
    assert policy.part_violations(template, purpose) == expected


def test_clinical_field_in_sender_name_is_a_violation():
    sender = '"Your {{ screening_type }} team" <care@example.org>'
    assert policy.sender_violations(sender) == [("screening_type", "the sender name")]
    assert policy.sender_violations("Sendwell Care <care@example.org>") == []


def test_postal_address_footer_added_once():
    html = "<html><body><p>Hi</p></body></html>"
    footed = policy.with_postal_address(parts(html=html, text="Hi\n"), ADDRESS)
    assert footed.html == ('<html><body><p>Hi</p><p style="font-size:12px;color:#555">'
                           f"{ADDRESS}</p></body></html>")
    assert footed.text == f"Hi\n\n{ADDRESS}\n"
    assert policy.with_postal_address(footed, ADDRESS) == footed
    assert policy.has_postal_address(footed, ADDRESS)
    assert not policy.has_postal_address(parts(), ADDRESS)


def legacy_template(session, name, **fields):
    """A template row saved before today's save-time checks (bypasses validation)."""
    values = {"subject": "Hello", "html": HTML, "text": TEXT, "preheader": ""} | fields
    row = EmailTemplate(id=new_id(), name=name, **values)
    session.add(row)
    session.flush()
    return row


def workflow_with(session, template: str, purpose: str, name="wf"):
    return service.create_workflow(session, name, everyone_segment(session),
                                   [{"template": template, "delay_days": 0}], purpose=purpose)


def queued(session) -> tuple[int, int]:
    return (session.scalar(select(func.count()).select_from(OutboxMessage)),
            session.scalar(select(func.count()).select_from(Enrollment)))


def test_launch_refuses_clinical_body_for_operations_before_queueing(session):
    make_patient(session, traits={"screening_type": "mammogram"})
    service.create_template(session, "t", SUBJECT, BODY_CLINICAL, TEXT)
    workflow = workflow_with(session, "t", "operations")
    with pytest.raises(policy.PolicyViolation) as refused:
        service.launch_workflow(session, workflow, NOW)
    assert str(refused.value) == (
        "refused by the PHI policy: step 1 (template 't'): clinical merge field "
        "'screening_type' is not allowed in the body of a message with purpose 'operations'")
    assert queued(session) == (0, 0) and workflow.status == WorkflowStatus.DRAFT


def test_launch_refuses_clinical_subject_of_a_legacy_template(session):
    legacy_template(session, "old", subject="Your {{ screening_type }} is due")
    workflow = workflow_with(session, "old", "care_reminder")
    with pytest.raises(policy.PolicyViolation, match="'screening_type' is not allowed in the "
                                                     "subject"):
        service.launch_workflow(session, workflow, NOW)


def test_launch_refusal_from_the_cli_exits_1(session, runner):
    make_patient(session)
    service.create_template(session, "t", SUBJECT, HTML,
                            "Book: https://p.example.org/?who={{ last_name }}")
    workflow_with(session, "t", "care_reminder", name="Leaky")
    session.commit()
    result = runner.invoke(args=["workflows", "launch", "Leaky"])
    assert result.exit_code == 1
    assert "identity merge field 'last_name' is not allowed in a URL in the text part" in (
        result.output)
    assert queued(session) == (0, 0)


def test_marketing_mail_is_sent_with_the_postal_address_footer(app, session):
    from campaigns.sending import _Context

    make_patient(session, marketing_authorized_at="2023-01-05", first_name="Maya")
    service.create_template(session, "promo", "News", HTML, TEXT)
    workflow = workflow_with(session, "promo", "marketing")
    assert service.launch_workflow(session, workflow, NOW) == 1
    row = service.get_template(session, "promo")
    assert ADDRESS not in row.text and ADDRESS not in row.html  # the template is the marketer's
    sent_parts = _Context(NOW, "http://x").template(session, workflow, 0)
    rendered = render_message(sent_parts, {"first_name": "Maya"}, "http://x", "Org",
                              tracking=False)
    assert f"\n\n{ADDRESS}\n" in rendered.text and ADDRESS in rendered.html


def test_marketing_without_a_postal_address_is_refused(app, session):
    app.config["ORG_POSTAL_ADDRESS"] = ""
    service.create_template(session, "promo", "News", HTML, TEXT)
    workflow = workflow_with(session, "promo", "marketing")
    with pytest.raises(policy.PolicyViolation, match="must carry the organisation's postal"):
        service.launch_workflow(session, workflow, NOW)


def test_editing_a_running_workflows_template_into_a_violation_is_refused(session):
    service.create_template(session, "t", SUBJECT, HTML, TEXT)
    workflow = workflow_with(session, "t", "operations")
    service.launch_workflow(session, workflow, NOW)
    with pytest.raises(policy.PolicyViolation, match="'screening_type'"):
        service.create_template(session, "t", SUBJECT, BODY_CLINICAL, TEXT)


def test_changing_a_running_workflow_into_a_violation_is_refused(session):
    service.create_template(session, "t", SUBJECT, BODY_CLINICAL, TEXT)
    workflow = workflow_with(session, "t", "care_reminder")
    service.launch_workflow(session, workflow, NOW)
    with pytest.raises(policy.PolicyViolation, match="purpose 'operations'"):
        workflow_with(session, "t", "operations")


def test_policy_messages_hold_no_patient_data(session):
    make_patient(session, first_name="Secretname", traits={"screening_type": "Secretvalue"})
    legacy_template(session, "old", subject="{{ screening_type }} for {{ first_name }}")
    workflow = workflow_with(session, "old", "marketing")
    found = service.policy_violations(session, workflow)
    assert found and "Secret" not in json.dumps(found)
