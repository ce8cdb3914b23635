"""English summaries of rules."""

from __future__ import annotations

import pytest

from segments.describe import describe_rule

CASES = [
    ({"field": "sex", "op": "eq", "value": "F"}, "sex is F"),
    ({"field": "state", "op": "neq", "value": "NE"},
     "state is not NE (includes patients with no value)"),
    ({"field": "age", "op": "between", "value": [18, 120]}, "age is between 18 and 120"),
    ({"field": "last_visit", "op": "more_than_ago", "value": {"months": 1}},
     "last visit is more than 1 month ago"),
    ({"field": "email_opt_in", "op": "is_empty"}, "email opt-in is empty"),
    ({"any": [{"field": "condition_group", "op": "includes", "value": "hypertension"},
              {"field": "condition_group", "op": "includes", "value": "prediabetes"}]},
     "(active condition group includes hypertension or "
     "active condition group includes prediabetes)"),
    ({"event": "Appointment Missed", "op": "count_at_least", "value": 1, "within_days": 90},
     "performed “Appointment Missed” at least 1 time in the last 90 days"),
    ({"event": "Portal Login", "op": "not_performed",
      "where": [{"property": "device", "op": "in", "value": ["ios", "android"]}]},
     "did not perform “Portal Login” where property “device” is one of [ios, android]"),
    ({"not": {"segment": "vips"}},
     "not (member of segment “vips”) (includes patients with no value)"),
    ({"trait": "flu_shot_2024", "op": "not_in", "value": ["yes"]},
     "attribute “flu_shot_2024” is none of [yes] (includes patients with no value)"),
]


@pytest.mark.parametrize(("rule", "text"), CASES)
def test_describe_rule_reads_as_english(rule, text):
    assert describe_rule(rule) == text
