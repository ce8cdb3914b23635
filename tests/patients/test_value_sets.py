import pandas as pd
import pytest

from patients.condition_groups import groups_for_code, slugs, value_sets
from tests.conftest import SAMPLE


def test_value_set_files_are_well_formed():
    for slug, doc in value_sets().items():
        assert doc["system"] == "http://snomed.info/sct"
        assert doc["codes"] and all(c["code"].isdigit() for c in doc["codes"]), slug


@pytest.mark.parametrize(("code", "groups"), [
    ("15777000", ("prediabetes",)), ("714628002", ("prediabetes",)),
    ("44054006", ("diabetes",)), ("59621000", ("hypertension",)),
    ("38341003", ("hypertension",)), ("162864005", ("obesity",)),
    ("408512008", ("obesity",)), ("195967001", ("asthma",)), ("185086009", ("copd",)),
    ("87433001", ("copd",)), ("72892002", ("pregnancy",)), ("449868002", ("tobacco_use",)),
    ("433144002", ("chronic_kidney_disease",)), ("E11.9", ("diabetes",)),
    ("I10", ("hypertension",)), ("314529007", ()), ("", ()),
])
def test_groups_for_code(code, groups):
    assert groups_for_code(code) == groups


def test_sample_conditions_hit_the_main_groups():
    conditions = pd.read_csv(SAMPLE / "synthea-csv-nebraska" / "conditions.csv", dtype=str,
                             keep_default_na=False)
    found = {g for code in conditions["CODE"].unique() for g in groups_for_code(code)}
    assert {"prediabetes", "diabetes", "hypertension", "obesity", "asthma", "copd",
            "pregnancy", "chronic_kidney_disease"} <= found
    assert set(slugs()) >= found


def test_a_condition_abating_on_the_as_of_day_is_still_active():
    from datetime import date

    from patients.facets import active_groups

    conditions = [{"group": "prediabetes", "onset": "2020-01-01", "abated": "2023-12-31"},
                  {"group": "asthma", "onset": "2020-01-01", "abated": "2023-12-30"}]
    assert active_groups(conditions, date(2023, 12, 31)) == {"prediabetes"}
