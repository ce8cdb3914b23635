"""Which reader a path needs: Synthea folder, FHIR Bulk, Segment events or a flat file."""

from __future__ import annotations

import json
from pathlib import Path

from cdp.report import ImportFailed

FORMATS = ("auto", "flat", "synthea", "fhir", "events")


def read_text(path: Path) -> str:
    """A file's text as UTF-8 (byte-order mark dropped); fails naming the first bad line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFailed(path.name, "cannot be read (missing or unreadable)") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFailed(
            path.name, f"is not UTF-8 (first bad byte on line {line}); "
            "save it as CSV UTF-8 and import again", row=line,
        ) from exc


def _first_object(path: Path) -> dict | None:
    for line in read_text(path).splitlines():
        if line.strip():
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def classify(path: Path, fmt: str = "auto") -> str:
    """The format of one path (`fmt` other than auto is taken as given)."""
    if not path.exists():
        raise ImportFailed(path.name, "does not exist")
    if fmt != "auto":
        return fmt
    if path.is_dir():
        if (path / "patients.csv").is_file():
            return "synthea"
        if any(path.glob("*.ndjson")):
            return "fhir"
        raise ImportFailed(path.name, "folder holds neither patients.csv nor FHIR NDJSON")
    if path.suffix.lower() in (".ndjson", ".jsonl", ".json"):
        first = _first_object(path)
        if first and first.get("type") in ("identify", "track"):
            return "events"
        if first and "resourceType" in first:
            return "fhir"
    return "flat"
