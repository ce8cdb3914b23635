"""The rule language: what validates, how it is normalised, and errors naming the path."""

from __future__ import annotations

import pytest

from core.errors import SendwellError
from segments.rules import RuleError, validate_rule

VALID = [
    ({"field": "sex", "op": "eq", "value": "female"}, {"field": "sex", "op": "eq", "value": "F"}),
    ({"field": "age", "op": "between", "value": [18, 120]},
     {"field": "age", "op": "between", "value": [18, 120]}),
    ({"field": "zip3", "op": "in", "value": [681, "685"]},
     {"field": "zip3", "op": "in", "value": ["681", "685"]}),
    ({"field": "last_visit", "op": "within_last", "value": {"months": 6}},
     {"field": "last_visit", "op": "within_last", "value": {"months": 6}}),
    ({"field": "last_visit", "op": "before", "value": "2023-01-01"},
     {"field": "last_visit", "op": "before", "value": "2023-01-01"}),
    ({"field": "marketing_authorized", "op": "eq", "value": True},
     {"field": "marketing_authorized", "op": "eq", "value": True}),
    ({"field": "lifecycle_stage", "op": "eq", "value": "Follow_Up"},
     {"field": "lifecycle_stage", "op": "eq", "value": "follow_up"}),
    ({"field": "email_opt_in", "op": "is_empty"}, {"field": "email_opt_in", "op": "is_empty"}),
    ({"trait": "flu_shot_2024", "op": "neq", "value": "yes"},
     {"trait": "flu_shot_2024", "op": "neq", "value": "yes"}),
    ({"event": "Portal Login", "op": "not_performed", "within_days": 30},
     {"event": "Portal Login", "op": "not_performed", "within_days": 30}),
    ({"event": "Appointment Missed", "op": "count_at_least", "value": 2,
      "where": [{"property": "department", "op": "eq", "value": "cardiology"}]},
     {"event": "Appointment Missed", "op": "count_at_least", "value": 2,
      "where": [{"property": "department", "op": "eq", "value": "cardiology"}]}),
    ({"not": {"segment": " vips "}}, {"not": {"segment": "vips"}}),
    ({"any": [{"field": "reachable", "op": "eq", "value": False},
              {"field": "risk_flag", "op": "includes", "value": "smoker"}]},
     {"any": [{"field": "reachable", "op": "eq", "value": False},
              {"field": "risk_flag", "op": "includes", "value": "smoker"}]}),
]

INVALID = [
    ([], "$: a rule node must be an object"),
    ({"all": []}, "$.all: must be a non-empty list"),
    ({"all": [{"field": "sex", "op": "eq", "value": "F"}, {"field": "shoe_size", "op": "eq",
                                                        "value": 9}]}, "$.all[1].field"),
    ({"any": [{"not": {"field": "age", "op": "gt", "value": "old"}}]},
     "$.any[0].not.value: gt needs a number"),
    ({"field": "age", "op": "includes", "value": 3}, "$.op: 'includes' is not one of"),
    ({"field": "sex", "op": "eq", "value": "X"}, "$.value: sex is one of"),
    ({"field": "age", "op": "between", "value": [60, 18]}, "$.value: the low bound"),
    ({"field": "age", "op": "is_empty", "value": 3}, "$.value: is_empty takes no value"),
    ({"field": "last_visit", "op": "within_last", "value": {"years": 1}}, "$.value: must be"),
    ({"field": "last_visit", "op": "before", "value": "last tuesday"}, "$.value: must be an ISO"),
    ({"field": "reachable", "op": "eq", "value": "yes"}, "$.value: must be true or false"),
    ({"field": "state", "op": "in", "value": []}, "$.value: in needs a non-empty list"),
    ({"event": "Portal Login", "op": "count_at_least"}, "$.value: must be a whole number"),
    ({"event": "Portal Login", "op": "count_at_least", "value": 1, "within_days": 0},
     "$.within_days: must be a whole number from 1 to 36500"),
    ({"event": "X", "op": "count_at_most", "value": 1, "where": [{"property": "p", "op": "gt",
                                                               "value": "a"}]},
     "$.where[0].value: gt needs a number"),
    ({"field": "sex", "op": "eq", "value": "F", "trait": "x"}, "$: a node needs exactly one"),
    ({"field": "sex", "op": "eq", "value": "F", "colour": "red"}, "$: unexpected key(s) 'colour'"),
    ({"segment": ""}, "$.segment: must be a non-empty string"),
]


@pytest.mark.parametrize(("rule", "normalised"), VALID)
def test_validate_rule_normalises_valid_rules(rule, normalised):
    assert validate_rule(rule) == normalised


@pytest.mark.parametrize(("rule", "message"), INVALID)
def test_validate_rule_names_the_bad_node(rule, message):
    with pytest.raises(RuleError) as caught:
        validate_rule(rule)
    assert message in str(caught.value)


def test_rule_error_is_an_application_error():
    assert issubclass(RuleError, SendwellError)


def test_validated_rule_validates_again_unchanged():
    rule = validate_rule(VALID[-1][0])
    assert validate_rule(rule) == rule
