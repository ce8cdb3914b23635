"""Which reader a path needs: Synthea folder, FHIR Bulk, Segment events or a flat file.

With `auto`: a folder holding `patients.csv` is Synthea; a folder of
`<ResourceType>.*.ndjson` files, or an NDJSON file whose first object has a
`resourceType`, is FHIR Bulk; NDJSON whose first object is an `identify`/`track` call is
events; anything else is a flat profile file (CSV/TSV, JSON array or NDJSON).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from cdp.encodings import decode
from cdp.limits import Limits, check_size
from cdp.report import ImportFailed

FORMATS = ("auto", "flat", "synthea", "fhir", "events")
FHIR_FILE = re.compile(r"^([A-Z][A-Za-z]+)(\.[^.]+)*\.ndjson$")
FIRST_LINE_BYTES = 1 << 20


def read_text(path: Path, encoding: str | None = None, limits: Limits | None = None) -> str:
    """A whole file's text (see `cdp.encodings`); fails naming the first bad line."""
    check_size(path, limits or Limits.from_config())
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFailed(path.name, "cannot be read (missing or unreadable)") from exc
    return decode(data, path.name, encoding)


def _first_object(path: Path) -> dict | None:
    """The first non-blank line of a file as a JSON object (None if it is not one)."""
    try:
        with path.open("rb") as handle:
            for raw in handle:
                line = raw.removeprefix(b"\xef\xbb\xbf").strip()
                if line:
                    value = json.loads(line[:FIRST_LINE_BYTES])
                    return value if isinstance(value, dict) else None
    except (OSError, ValueError):
        return None
    return None


def is_fhir_file(path: Path) -> bool:
    return bool(FHIR_FILE.match(path.name))


def classify(path: Path, fmt: str = "auto") -> str:
    """The format of one path (`fmt` other than auto is taken as given)."""
    if not path.exists():
        raise ImportFailed(path.name, "does not exist")
    if fmt != "auto":
        return fmt
    if path.is_dir():
        if (path / "patients.csv").is_file():
            return "synthea"
        if any(is_fhir_file(p) for p in path.iterdir()):
            return "fhir"
        raise ImportFailed(path.name, "folder holds neither patients.csv nor "
                           "<ResourceType>.ndjson files")
    if path.suffix.lower() in (".ndjson", ".jsonl", ".json"):
        first = _first_object(path)
        if first and first.get("type") in ("identify", "track"):
            return "events"
        if first and "resourceType" in first:
            return "fhir"
    return "flat"
