"""Lifecycle rules as a scenario table (as of 2023-12-31)."""

from datetime import date

import pytest

from patients.lifecycle import lifecycle_stage

AS_OF = date(2023, 12, 31)


def enc(start, cls="wellness"):
    return {"start": start, "stop": start, "class": cls}


OLD = enc("2019-01-10")
RECENT = enc("2023-06-01")

CASES = [
    ("no encounters", {}, set(), None),
    ("first encounter 30 days ago", {"encounters": [enc("2023-12-01")]}, set(), "onboarding"),
    ("first encounter 100 days ago", {"encounters": [enc("2023-09-22")]}, set(), "preventive"),
    ("emergency 20 days ago", {"encounters": [OLD, enc("2023-12-11", "emergency")]}, set(),
     "follow_up"),
    ("inpatient 70 days ago", {"encounters": [OLD, enc("2023-10-22", "inpatient")]}, set(),
     "preventive"),
    ("care plan ended 10 days ago",
     {"encounters": [OLD, RECENT], "careplans": [{"start": "2023-06-01", "stop": "2023-12-21"}]},
     set(), "follow_up"),
    ("no visit for 2 years", {"encounters": [OLD]}, set(), "re_engagement"),
    ("no visit for 2 years, open care plan",
     {"encounters": [OLD], "careplans": [{"start": "2019-01-10", "stop": ""}]},
     set(), "re_engagement"),
    ("active care plan",
     {"encounters": [OLD, RECENT], "careplans": [{"start": "2020-01-01", "stop": ""}]},
     set(), "active_treatment"),
    ("medication started 30 days ago",
     {"encounters": [OLD, RECENT],
      "medications": [{"start": "2023-12-01T10:00:00Z", "stop": "2023-12-08T10:00:00Z"}]},
     set(), "active_treatment"),
    ("ongoing medication for an active condition",
     {"encounters": [OLD, RECENT],
      "medications": [{"start": "2020-01-01", "stop": "", "reason_code": "59621000"}]},
     {"59621000"}, "active_treatment"),
    ("ongoing medication for a resolved condition",
     {"encounters": [OLD, RECENT],
      "medications": [{"start": "2020-01-01", "stop": "", "reason_code": "59621000"}]},
     set(), "preventive"),
    ("records after as-of ignored",
     {"encounters": [OLD, RECENT, enc("2024-01-05", "emergency")]}, set(), "preventive"),
]


@pytest.mark.parametrize(("clinical", "active", "stage"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_lifecycle_stage(clinical, active, stage):
    assert lifecycle_stage(clinical, active, AS_OF) == stage
