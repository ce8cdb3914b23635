"""Rule evaluation over synthetic frames, as scenario tables (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from segments.evaluate import ages_on, evaluate, window_start
from segments.rules import RuleError
from tests.segments.frames import AS_OF, TZ, events, facets, members

HTN = {"group": "hypertension", "onset": "2020-01-01", "abated": None}
PRE = {"group": "prediabetes", "onset": "2023-12-31", "abated": None}
PRE_FUTURE = {"group": "prediabetes", "onset": "2024-01-01", "abated": None}
HTN_ABATED = {"group": "hypertension", "onset": "2019-01-01", "abated": "2023-12-30"}
HTN_ABATES_TODAY = {"group": "hypertension", "onset": "2019-01-01", "abated": "2023-12-31"}

PEOPLE = {
    "a": {"conditions": [HTN], "birth_date": date(1983, 12, 31), "risk_flags": ["smoker"],
          "last_visit": date(2023, 10, 3), "lifecycle_stage": "active_treatment"},
    "b": {"conditions": [PRE], "birth_date": date(1984, 1, 1), "sex": "M",
          "state": "Iowa", "state_code": "IA", "last_visit": date(2023, 10, 2)},
    "c": {"conditions": [HTN_ABATED, PRE_FUTURE], "birth_date": None, "sex": "unknown",
          "state": None, "state_code": None, "zip3": None, "lifecycle_stage": None,
          "email_opt_in": "", "language": None},
    "d": {"conditions": [HTN_ABATES_TODAY], "birth_date": date(2006, 1, 1),
          "email_opt_in": "no", "marketing_authorized_at": date(2023, 6, 1),
          "traits": {"smoking_status": "current", "visits": 4, "vip": True}},
    "dead": {"deceased": True, "conditions": [HTN], "birth_date": date(1950, 1, 1)},
}

FIELD_SCENARIOS = [
    ("htn active", {"field": "condition_group", "op": "includes", "value": "hypertension"},
     ["a", "d"]),
    ("htn excluded keeps no-value", {"field": "condition_group", "op": "excludes",
                                     "value": "hypertension"}, ["b", "c"]),
    ("onset today counts, future onset not", {"field": "condition_group", "op": "includes",
                                              "value": "prediabetes"}, ["b"]),
    ("any group in list", {"field": "condition_group", "op": "in",
                           "value": ["prediabetes", "hypertension"]}, ["a", "b", "d"]),
    ("no active group", {"field": "condition_group", "op": "is_empty"}, ["c"]),
    ("risk flag", {"field": "risk_flag", "op": "includes", "value": "Smoker"}, ["a"]),
    ("age on birthday", {"field": "age", "op": "eq", "value": 40}, ["a"]),
    ("age day before birthday", {"field": "age", "op": "lt", "value": 40}, ["b", "d"]),
    ("age between inclusive", {"field": "age", "op": "between", "value": [17, 39]}, ["b", "d"]),
    ("age unknown", {"field": "age", "op": "is_empty"}, ["c"]),
    ("age neq includes unknown", {"field": "age", "op": "neq", "value": 40}, ["b", "c", "d"]),
    ("adults", {"field": "age", "op": "gte", "value": 18}, ["a", "b"]),
    ("sex", {"field": "sex", "op": "eq", "value": "F"}, ["a", "d"]),
    ("sex not F", {"field": "sex", "op": "neq", "value": "F"}, ["b", "c"]),
    ("state by code any case", {"field": "state", "op": "eq", "value": "ne"}, ["a", "d"]),
    ("state by name", {"field": "state", "op": "eq", "value": "IOWA"}, ["b"]),
    ("state not in", {"field": "state", "op": "not_in", "value": ["Nebraska"]}, ["b", "c"]),
    ("state unknown", {"field": "state", "op": "is_empty"}, ["c"]),
    ("zip3", {"field": "zip3", "op": "in", "value": ["685", "681"]}, ["a", "b", "d"]),
    ("language empty", {"field": "language", "op": "is_empty"}, ["c"]),
    ("stage", {"field": "lifecycle_stage", "op": "eq", "value": "active_treatment"}, ["a"]),
    ("stage not", {"field": "lifecycle_stage", "op": "neq", "value": "preventive"}, ["a", "c"]),
    ("opt-in empty", {"field": "email_opt_in", "op": "is_empty"}, ["c"]),
    ("opt-in not no", {"field": "email_opt_in", "op": "neq", "value": "no"}, ["a", "b", "c"]),
    ("visit within 90 days", {"field": "last_visit", "op": "within_last", "value": {"days": 90}},
     ["a"]),
    ("visit 90+ days ago", {"field": "last_visit", "op": "more_than_ago", "value": {"days": 90}},
     ["b"]),
    ("visit within 3 months", {"field": "last_visit", "op": "within_last",
                               "value": {"months": 3}}, ["a", "b"]),
    ("visit before date", {"field": "last_visit", "op": "before", "value": "2023-10-03"}, ["b"]),
    ("visit after relative", {"field": "last_visit", "op": "after", "value": {"days": 90}},
     ["a"]),
    ("visit between dates", {"field": "last_visit", "op": "between",
                             "value": ["2023-10-02", "2023-10-02"]}, ["b"]),
    ("no visit", {"field": "last_visit", "op": "is_empty"}, ["c", "d"]),
    ("authorized", {"field": "marketing_authorized", "op": "eq", "value": True}, ["d"]),
    ("not authorized", {"field": "marketing_authorized", "op": "eq", "value": False},
     ["a", "b", "c"]),
    ("reachable", {"field": "reachable", "op": "eq", "value": True}, ["a", "b", "c"]),
    ("trait text", {"trait": "smoking_status", "op": "eq", "value": "CURRENT"}, ["d"]),
    ("trait number", {"trait": "visits", "op": "gte", "value": 3}, ["d"]),
    ("trait bool", {"trait": "vip", "op": "eq", "value": True}, ["d"]),
    ("trait missing is empty", {"trait": "vip", "op": "is_empty"}, ["a", "b", "c"]),
    ("not group", {"not": {"field": "sex", "op": "eq", "value": "F"}}, ["b", "c"]),
    ("all", {"all": [{"field": "sex", "op": "eq", "value": "F"},
                     {"field": "age", "op": "gte", "value": 18}]}, ["a"]),
    ("any", {"any": [{"field": "sex", "op": "eq", "value": "M"},
                     {"field": "age", "op": "is_empty"}]}, ["b", "c"]),
]


@pytest.mark.parametrize(("rule", "expected"), [s[1:] for s in FIELD_SCENARIOS],
                         ids=[s[0] for s in FIELD_SCENARIOS])
def test_field_rules_select_expected_patients(rule, expected):
    mask = evaluate(rule, facets(PEOPLE), events([]), AS_OF, tz=TZ)
    assert members(mask) == expected
    assert list(mask.index) == list(PEOPLE)


EVENTS = [
    ("a", "Appointment Missed", "2023-10-03T06:00:00Z", {"department": "cardiology"}),  # 10-03
    ("a", "Appointment Missed", "2023-10-02T04:59:59Z", {"department": "primary care"}),  # 10-01
    ("b", "Appointment Missed", "2023-12-31T12:00:00Z", {"department": "Cardiology"}),
    ("b", "Appointment Missed", "2024-01-01T06:00:01Z", {}),  # after as-of: ignored
    ("c", "Portal Login", "2023-12-30T12:00:00Z", {"pages": 3}),
    ("dead", "Appointment Missed", "2023-12-01T12:00:00Z", {}),
]

EVENT_SCENARIOS = [
    ("ever missed", {"event": "Appointment Missed", "op": "count_at_least", "value": 1},
     ["a", "b"]),
    ("window starts at local midnight", {"event": "Appointment Missed", "op": "count_at_least",
                                         "value": 1, "within_days": 90}, ["a", "b"]),
    ("window excludes day N", {"event": "Appointment Missed", "op": "count_at_least",
                               "value": 2, "within_days": 91}, []),
    ("window includes day N-1", {"event": "Appointment Missed", "op": "count_at_least",
                                 "value": 2, "within_days": 92}, ["a"]),
    ("window 89 days", {"event": "Appointment Missed", "op": "count_at_least", "value": 1,
                        "within_days": 89}, ["b"]),
    ("at most includes zero", {"event": "Appointment Missed", "op": "count_at_most",
                               "value": 1}, ["b", "c", "d"]),
    ("not performed", {"event": "Appointment Missed", "op": "not_performed"}, ["c", "d"]),
    ("not performed in window", {"event": "Portal Login", "op": "not_performed",
                                 "within_days": 1}, ["a", "b", "c", "d"]),
    ("where filter any case", {"event": "Appointment Missed", "op": "count_at_least",
                               "value": 1, "where": [{"property": "department", "op": "eq",
                                                      "value": "cardiology"}]}, ["a", "b"]),
    ("where negative", {"event": "Appointment Missed", "op": "count_at_least", "value": 1,
                        "where": [{"property": "department", "op": "neq",
                                   "value": "cardiology"}]}, ["a"]),
    ("where number", {"event": "Portal Login", "op": "count_at_least", "value": 1,
                      "where": [{"property": "pages", "op": "gt", "value": 2}]}, ["c"]),
]


@pytest.mark.parametrize(("rule", "expected"), [s[1:] for s in EVENT_SCENARIOS],
                         ids=[s[0] for s in EVENT_SCENARIOS])
def test_event_rules_select_expected_patients(rule, expected):
    mask = evaluate(rule, facets(PEOPLE), events(EVENTS), AS_OF, tz=TZ)
    assert members(mask) == expected


def test_deceased_patients_are_never_members():
    rule = {"field": "sex", "op": "neq", "value": "M"}
    mask = evaluate({"not": rule}, facets(PEOPLE), events([]), AS_OF, tz=TZ)
    assert not mask["dead"]
    assert not evaluate(rule, facets(PEOPLE), events([]), AS_OF, tz=TZ)["dead"]


def test_segment_reference_uses_the_other_rule():
    rules = {"women": {"field": "sex", "op": "eq", "value": "F"}}
    rule = {"all": [{"segment": "women"}, {"field": "age", "op": "gte", "value": 18}]}
    mask = evaluate(rule, facets(PEOPLE), events([]), AS_OF, rules.__getitem__, tz=TZ)
    assert members(mask) == ["a"]


def test_segment_cycle_is_refused():
    rules = {"x": {"segment": "y"}, "y": {"not": {"segment": "x"}}}
    with pytest.raises(RuleError, match="refers to itself"):
        evaluate({"segment": "x"}, facets(PEOPLE), events([]), AS_OF, rules.__getitem__, tz=TZ)


def test_age_uses_the_organisation_date_not_utc():
    # 2024-01-01 03:00 UTC is still 2023-12-31 in Chicago: "a" turns 40 that day.
    instant = datetime(2024, 1, 1, 3, 0, tzinfo=UTC)
    rule = {"field": "age", "op": "eq", "value": 40}
    assert members(evaluate(rule, facets(PEOPLE), events([]), instant, tz=TZ)) == ["a"]
    assert members(evaluate(rule, facets(PEOPLE), events([]), instant, tz="UTC")) == ["a", "b"]


@pytest.mark.parametrize(("born", "today", "age"), [
    (date(2000, 2, 29), date(2023, 2, 28), 22),
    (date(2000, 2, 29), date(2023, 3, 1), 23),
    (date(2000, 2, 29), date(2024, 2, 29), 24),
    (date(1980, 12, 31), date(2023, 12, 31), 43),
])
def test_ages_on_counts_whole_years(born, today, age):
    assert ages_on(facets({"p": {"birth_date": born}})["birth_date"], today)["p"] == age


def test_window_start_is_local_midnight_across_dst():
    # 90 days back from 2023-12-31 begins 2023-10-03 00:00 CDT (UTC-5)
    assert window_start(date(2023, 12, 31), 90, ZoneInfo(TZ)) == (
        datetime(2023, 10, 3, 5, 0, tzinfo=UTC)
    )


def test_empty_population_gives_empty_mask():
    mask = evaluate({"field": "sex", "op": "eq", "value": "F"}, facets({}), events([]), AS_OF,
                    tz=TZ)
    assert mask.empty and mask.dtype == bool
