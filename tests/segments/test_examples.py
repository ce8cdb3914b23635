"""The shipped example rules: valid, and each selects patients of the bundled sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segments import service
from segments.describe import describe_rule
from segments.rules import validate_rule
from tests.conftest import SAMPLE

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "segments" / "examples").glob("*.json"))
# independently recomputed from the sample files (events.ndjson, patients.csv)
EXPECTED = {"missed-appointment-90d": 8, "nebraska-women-40-plus": 30}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_three_examples_ship():
    assert [p.stem for p in EXAMPLES] == [
        "adults-with-hypertension-or-prediabetes", "missed-appointment-90d",
        "nebraska-women-40-plus",
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_is_valid_and_named_like_its_file(path):
    example = load(path)
    assert example["name"] == path.stem
    assert validate_rule(example["rule"]) == example["rule"]
    assert describe_rule(example["rule"])


@pytest.fixture
def sample_imported(session):
    from cdp.service import import_paths

    paths = [SAMPLE / "synthea-csv-nebraska", SAMPLE / "cdp-nebraska" / "contacts.csv",
             SAMPLE / "cdp-nebraska" / "events.ndjson"]
    report = import_paths(session, paths, as_of="2023-12-31")
    assert report["status"] == "completed"
    session.commit()


def test_examples_match_sample_patients(session, sample_imported):
    for path in EXAMPLES:
        example = load(path)
        counts = service.count_rule(session, example["rule"], "2023-12-31")
        assert 0 < counts["reachable"] <= counts["count"] < 111, path.stem
        if path.stem in EXPECTED:
            assert counts["count"] == EXPECTED[path.stem]
