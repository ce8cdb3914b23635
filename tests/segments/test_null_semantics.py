"""Case B10: missing values and negative operators; the complement invariant."""

from __future__ import annotations

import csv
import json

import pytest

from segments.evaluate import evaluate
from tests.conftest import CASES
from tests.segments.frames import AS_OF, TZ, events, facets, members
from tests.segments.test_evaluate import PEOPLE

B10 = json.loads((CASES / "B10-segment-rules.json").read_text())
ID_COLUMNS = {"patient_id", "email"}


def b10_frame(empty: str):
    """The B10 profiles as a facet frame; an empty cell becomes `empty` (absent, None, "")."""
    with (CASES / B10["profiles_file"]).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    people = {}
    for row in rows:
        traits = {k: v for k, v in row.items() if k not in ID_COLUMNS and v != ""}
        if empty != "absent":
            traits |= {k: (None if empty == "none" else "") for k, v in row.items()
                       if k not in ID_COLUMNS and v == ""}
        people[row["patient_id"]] = {"traits": traits}
    return facets(people)


def as_trait_rule(rule: dict) -> dict:
    """B10 names its custom columns as fields; in our language they are traits."""
    return {"trait" if k == "field" else k: v for k, v in rule.items()}


@pytest.mark.parametrize("empty", ["absent", "none", "blank"])
@pytest.mark.parametrize("case", B10["rules"], ids=[c["id"] for c in B10["rules"]])
def test_b10_rules_return_expected_sets(case, empty):
    mask = evaluate(as_trait_rule(case["rule"]), b10_frame(empty), events([]), AS_OF, tz=TZ)
    assert members(mask) == case["expected"]


@pytest.mark.parametrize("empty", ["absent", "none", "blank"])
@pytest.mark.parametrize("trait", ["primary_condition", "flu_shot_2024"])
@pytest.mark.parametrize("values", [["diabetes"], ["yes"], ["asthma", "no"], ["nothing"]])
def test_b10_in_plus_not_in_is_everyone(trait, values, empty):
    frame = b10_frame(empty)
    counts = [
        int(evaluate({"trait": trait, "op": op, "value": values}, frame, events([]), AS_OF,
                     tz=TZ).sum())
        for op in ("in", "not_in")
    ]
    assert sum(counts) == 4


PAIRS = [
    ({"field": "sex", "op": "in", "value": ["F"]}, "not_in"),
    ({"field": "state", "op": "in", "value": ["ne", "Iowa"]}, "not_in"),
    ({"field": "zip3", "op": "in", "value": ["685"]}, "not_in"),
    ({"field": "age", "op": "in", "value": [40, 17]}, "not_in"),
    ({"field": "lifecycle_stage", "op": "eq", "value": "preventive"}, "neq"),
    ({"field": "email_opt_in", "op": "eq", "value": "yes"}, "neq"),
    ({"field": "condition_group", "op": "includes", "value": "hypertension"}, "excludes"),
    ({"field": "condition_group", "op": "in", "value": ["prediabetes"]}, "not_in"),
    ({"field": "risk_flag", "op": "includes", "value": "smoker"}, "excludes"),
    ({"field": "last_visit", "op": "is_empty"}, "is_not_empty"),
    ({"trait": "smoking_status", "op": "in", "value": ["current"]}, "not_in"),
    ({"trait": "visits", "op": "eq", "value": 4}, "neq"),
]


@pytest.mark.parametrize(("positive", "negative_op"), PAIRS)
def test_positive_and_negative_operators_partition_the_living(positive, negative_op):
    frame = facets(PEOPLE)
    negative = {**positive, "op": negative_op}
    living = len(PEOPLE) - 1
    pos = evaluate(positive, frame, events([]), AS_OF, tz=TZ)
    neg = evaluate(negative, frame, events([]), AS_OF, tz=TZ)
    negated = evaluate({"not": positive}, frame, events([]), AS_OF, tz=TZ)
    assert int(pos.sum()) + int(neg.sum()) == living
    assert not (pos & neg).any()
    assert neg.equals(negated)
