"""Import of the bundled sample into a fresh SQLite database vs reading its CSVs with pandas
(the floor: parsing alone)."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

import pandas as pd

from bench.timing import median_seconds

SAMPLE = Path(__file__).resolve().parent.parent / "sample"
PATHS = [
    SAMPLE / "synthea-csv-nebraska",
    SAMPLE / "cdp-nebraska" / "contacts.csv",
    SAMPLE / "cdp-nebraska" / "events.ndjson",
]


def _read_only() -> None:
    for path in (SAMPLE / "synthea-csv-nebraska").glob("*.csv"):
        pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.read_csv(PATHS[1], dtype=str, keep_default_na=False)
    pd.read_json(PATHS[2], lines=True)


def _import_once() -> None:
    from app import create_app
    from cdp.service import import_paths
    from core.db import new_session

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({
            "INSTANCE_PATH": tmp, "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "MASTER_KEY": base64.urlsafe_b64encode(b"b" * 32).decode(),
        })
        with app.app_context(), new_session() as session:
            report = import_paths(session, PATHS, as_of="2023-12-31")
            session.commit()
        app.extensions["sendwell.engine"].dispose()
        assert report["patients_seen"] == 111, report


def run() -> dict:
    base = median_seconds(_read_only, repeats=3)
    ours = median_seconds(_import_once, repeats=3)
    return {
        "name": "import_sample",
        "patients": 111,
        "baseline_read_csv_seconds": round(base, 3),
        "sendwell_import_seconds": round(ours, 3),
        "ratio_to_baseline": round(ours / base, 2),
    }
