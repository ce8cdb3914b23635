"""Synthea CSV exports: patients plus their clinical records, grouped by patient id.

Read with pandas (`dtype=str, keep_default_na=False`, so "NA" or "None" stay values).
Columns a marketing system has no use for (SSN, licence, passport, income, costs,
coordinates) are never read into memory.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from cdp.limits import Limits, check_rows, check_size
from cdp.report import ImportFailed

NEVER_STORED = {
    "SSN", "DRIVERS", "PASSPORT", "INCOME", "HEALTHCARE_EXPENSES", "HEALTHCARE_COVERAGE",
    "LAT", "LON",
}
PROFILE_COLUMNS = {
    "Id": "cdp_id", "BIRTHDATE": "birth_date", "DEATHDATE": "death_date", "FIRST": "first_name",
    "LAST": "last_name", "GENDER": "sex", "ADDRESS": "address", "CITY": "city",
    "STATE": "state", "ZIP": "zip",
}
# kind -> (file, {source column: record key})
CLINICAL_FILES = {
    "conditions": ("conditions.csv", {"START": "start", "STOP": "stop", "CODE": "code",
                                      "DESCRIPTION": "description"}),
    "encounters": ("encounters.csv", {"START": "start", "STOP": "stop",
                                      "ENCOUNTERCLASS": "class", "CODE": "code",
                                      "DESCRIPTION": "description", "REASONCODE": "reason_code"}),
    "medications": ("medications.csv", {"START": "start", "STOP": "stop", "CODE": "code",
                                        "DESCRIPTION": "description",
                                        "REASONCODE": "reason_code"}),
    "careplans": ("careplans.csv", {"START": "start", "STOP": "stop", "CODE": "code",
                                    "DESCRIPTION": "description", "REASONCODE": "reason_code"}),
    "immunizations": ("immunizations.csv", {"DATE": "start", "CODE": "code",
                                            "DESCRIPTION": "description"}),
    "procedures": ("procedures.csv", {"START": "start", "STOP": "stop", "CODE": "code",
                                      "DESCRIPTION": "description", "REASONCODE": "reason_code"}),
    "allergies": ("allergies.csv", {"START": "start", "STOP": "stop", "CODE": "code",
                                    "DESCRIPTION": "description", "TYPE": "type",
                                    "CATEGORY": "category"}),
}
_NAME_SUFFIX = re.compile(r"\d+$")


def _read(path: Path, wanted: set[str] | None) -> pd.DataFrame:
    def keep(column: str) -> bool:
        return column not in NEVER_STORED and (wanted is None or column in wanted)

    limits = Limits.from_config()
    check_size(path, limits)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                            usecols=keep, encoding="utf-8-sig", nrows=limits.max_rows + 1)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
        raise ImportFailed(path.name, "cannot be read as a Synthea CSV file") from exc
    check_rows(path.name, len(frame), limits)
    return frame


def ignored_columns(folder: Path) -> list[str]:
    """The columns of patients.csv that are dropped at read time (never stored)."""
    try:
        with (folder / "patients.csv").open(encoding="utf-8-sig") as handle:
            header = handle.readline().strip().split(",")
    except (OSError, UnicodeDecodeError):
        return []
    return [column for column in header if column in NEVER_STORED]


def read_patients(folder: Path) -> pd.DataFrame:
    """patients.csv as profile columns (Synthea's numeric name suffixes dropped)."""
    frame = _read(folder / "patients.csv", set(PROFILE_COLUMNS))
    if "Id" not in frame.columns:
        raise ImportFailed("patients.csv", "has no Id column")
    frame = frame.rename(columns=PROFILE_COLUMNS)
    for column in ("first_name", "last_name"):
        if column in frame.columns:
            frame[column] = frame[column].str.replace(_NAME_SUFFIX, "", regex=True)
    return frame


def read_clinical(folder: Path) -> dict[str, dict[str, list[dict]]]:
    """{kind: {patient id: [record, …]}} for every clinical file present in the folder."""
    found: dict[str, dict[str, list[dict]]] = {}
    for kind, (filename, columns) in CLINICAL_FILES.items():
        path = folder / filename
        if not path.is_file():
            continue
        frame = _read(path, set(columns) | {"PATIENT"})
        frame = frame.rename(columns=columns)
        found[kind] = {
            str(pid): group.drop(columns="PATIENT").to_dict("records")
            for pid, group in frame.groupby("PATIENT", sort=False)
        }
    return found
