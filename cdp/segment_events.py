"""Segment-spec event files (NDJSON): `track` events and `identify` traits.

`userId` is the CDP patient id; `messageId` makes ingestion idempotent. Lines that cannot
be used are reported by record number and skipped; the rest of the file is kept.
"""

from __future__ import annotations

import json
from pathlib import Path

from cdp.report import ImportFailed, Report
from cdp.sources import read_text
from core.clock import parse_instant


def _track(obj: dict, row: int, name: str, report: Report) -> dict | None:
    missing = [k for k in ("userId", "messageId", "event", "timestamp") if not obj.get(k)]
    if missing:
        report.error(name, row, missing[0], "missing")
        return None
    try:
        occurred = parse_instant(str(obj["timestamp"]))
    except ValueError:
        report.error(name, row, "timestamp", "not an ISO 8601 instant")
        return None
    properties = obj.get("properties")
    return {
        "row": row, "cdp_id": str(obj["userId"]).strip(), "message_id": str(obj["messageId"]),
        "name": str(obj["event"]), "occurred_at": occurred,
        "properties": properties if isinstance(properties, dict) else {},
    }


def _objects(path: Path, encoding: str | None = None):
    lines = [line for line in read_text(path, encoding).splitlines() if line.strip()]
    for row, line in enumerate(lines, start=1):
        try:
            yield row, json.loads(line)
        except ValueError:
            yield row, None


def read_events(path: Path, report: Report, encoding: str | None = None
                ) -> tuple[list[dict], list[tuple[int, dict]]]:
    """(track events, [(row, identify traits with `userId`)]) of one NDJSON file."""
    tracks, identifies, errors_before = [], [], len(report.errors)
    for row, obj in _objects(path, encoding):
        if not isinstance(obj, dict):
            report.error(path.name, row, "", "not a JSON object")
        elif obj.get("type") == "track":
            event = _track(obj, row, path.name, report)
            if event:
                tracks.append(event)
        elif obj.get("type") == "identify" and obj.get("userId"):
            traits = obj.get("traits") if isinstance(obj.get("traits"), dict) else {}
            identifies.append((row, {"user_id": str(obj["userId"]), **traits}))
        else:
            report.error(path.name, row, "type", "not a track or identify call with a userId")
    if not tracks and not identifies and len(report.errors) > errors_before:
        raise ImportFailed(path.name, "holds no usable events")
    return tracks, identifies
