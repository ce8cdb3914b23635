from datetime import date

import pytest

from patients.consent import is_suppressed, skip_reason, suppress
from patients.models import Suppression
from patients.service import facets_for
from tests.factories import make_patient

AS_OF = date(2023, 12, 31)
OK = {"deceased": False, "email_usable": True, "suppressed": False, "email_opt_in": "yes",
      "marketing_authorized_at": date(2023, 1, 1), "birth_date": date(1980, 1, 1)}

CASES = [
    ({}, "care_reminder", None),
    ({}, "marketing", None),
    ({"email_opt_in": ""}, "operations", None),
    ({"deceased": True}, "care_reminder", "deceased"),
    ({"email_usable": False}, "care_reminder", "no_email"),
    ({"suppressed": True}, "operations", "suppressed"),
    ({"email_opt_in": "no"}, "care_reminder", "opted_out"),
    ({"marketing_authorized_at": None}, "marketing", "no_marketing_authorization"),
    ({"marketing_authorized_at": None}, "care_reminder", None),
    ({"birth_date": date(2006, 1, 1)}, "marketing", "minor"),
    ({"birth_date": date(2005, 12, 31)}, "marketing", None),
    ({"birth_date": None}, "marketing", "minor"),
    ({"birth_date": date(2010, 1, 1)}, "care_reminder", None),
]


@pytest.mark.parametrize(("change", "purpose", "reason"), CASES)
def test_skip_reason(change, purpose, reason):
    assert skip_reason({**OK, **change}, purpose, AS_OF) == reason


def test_skip_reason_unknown_purpose():
    with pytest.raises(ValueError):
        skip_reason(OK, "newsletter", AS_OF)


def test_suppress_is_idempotent_and_case_insensitive(session):
    suppress(session, " Grace.Ho@Example.com ", "unsubscribed")
    suppress(session, "grace.ho@example.com", "bounce")
    assert is_suppressed(session, "GRACE.HO@example.com")
    assert not is_suppressed(session, "other@example.com")
    assert [s.reason for s in session.query(Suppression)] == ["unsubscribed"]


def test_suppression_shows_in_facets(session):
    patient = make_patient(session, email="Mia@Example.org")
    suppress(session, "mia@example.org", "unsubscribed")
    facets = facets_for(session, patient.id)
    assert facets["suppressed"] is True
    assert skip_reason(facets, "care_reminder", AS_OF) == "suppressed"
