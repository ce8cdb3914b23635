"""Flat profile files: CSV/TSV, JSON array or NDJSON, read as rows of text values.

CSV: delimiter chosen among `, ; TAB |` as the one whose header holds an email or
patient-id column (or declared in the mapping file); quoted line breaks stay in their
value and row numbers count records (header excluded), not lines. JSON: an array of
objects, or one object per line (NDJSON); numbers keep their source text (a 20-digit id
keeps every digit), `true`/`false` become text, `null` is missing, and a nested value is
reported and left empty. Every value stays text; only empty cells are missing.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from cdp.limits import Limits, check_rows
from cdp.mapping import column_targets
from cdp.mapping_file import DELIMITERS, Mapping
from cdp.report import ImportFailed
from cdp.sources import read_text

IDENTITY_FIELDS = {"cdp_id", "email"}


@dataclass
class FlatTable:
    """A flat file's records (row i is record i + 1) and the problems found reading them."""

    headers: list[str]
    rows: list[dict[str, str]]
    problems: list[tuple[int, str, str]] = field(default_factory=list)
    malformed: dict[int, str] = field(default_factory=dict)  # record number -> reason


def _has_identity(headers: list[str], mapping: Mapping) -> bool:
    return bool(set(column_targets(headers, mapping.columns).values()) & IDENTITY_FIELDS)


def _header(text: str, delimiter: str) -> list[str]:
    return next(csv.reader(io.StringIO(text), delimiter=delimiter), [])


def sniff_delimiter(text: str, name: str, mapping: Mapping | None = None) -> str:
    """The candidate delimiter whose header names an identity column (most columns wins)."""
    mapping = mapping or Mapping()
    candidates = (mapping.delimiter,) if mapping.delimiter else DELIMITERS
    best, best_width = None, 0
    for delimiter in candidates:
        header = _header(text, delimiter)
        if _has_identity(header, mapping) and len(header) > best_width:
            best, best_width = delimiter, len(header)
    if best is None:
        seen = text.splitlines()[0][:200] if text.strip() else "(empty file)"
        raise ImportFailed(name, f"no email or patient id column in the header {seen!r}")
    return best


def read_delimited(text: str, name: str, mapping: Mapping, limits: Limits) -> FlatTable:
    """Records of a delimited file; a record whose field count differs from the header's
    is kept as a numbered placeholder in `malformed` (rejected, never shifted into the
    wrong columns)."""
    delimiter = sniff_delimiter(text, name, mapping)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        headers = next(reader)
        _refuse_duplicate_headers(headers, name)
        table = FlatTable(headers, [])
        for record in reader:
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line is not a record
            _add_record(table, record)
            check_rows(name, len(table.rows), limits)
    except csv.Error as exc:
        raise ImportFailed(name, f"is not a well-formed delimited file (record "
                                 f"{len(table.rows) + 1})", row=len(table.rows) + 1) from exc
    return table


def _add_record(table: FlatTable, record: list[str]) -> None:
    width = len(table.headers)
    if len(record) == width:
        table.rows.append(dict(zip(table.headers, record, strict=True)))
        return
    table.rows.append({})
    table.malformed[len(table.rows)] = (
        f"has {len(record)} fields but the header has {width}; the row was not imported"
    )


def _refuse_duplicate_headers(headers: list[str], name: str) -> None:
    seen: set[str] = set()
    for header in headers:
        key = header.strip().lower()
        if key in seen and key:
            raise ImportFailed(name, f"the header names the column {header.strip()!r} twice")
        seen.add(key)


def _text(value) -> str | None:
    """A JSON value as text (None for a nested object or array)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if isinstance(value, (dict, list)) else str(value)


def _loads(text: str):
    return json.loads(text, parse_int=str, parse_float=str)


def _table(objects: list[tuple[int, object]], name: str) -> FlatTable:
    table = FlatTable([], [])
    seen: dict[str, None] = {}
    for row, obj in objects:
        if not isinstance(obj, dict):
            raise ImportFailed(name, f"record {row} is not a JSON object", row=row)
        values = {}
        for key, value in obj.items():
            seen.setdefault(key)
            values[key] = _text(value)
            if values[key] is None:
                values[key] = ""
                table.problems.append((row, key, "nested values are not supported"))
        table.rows.append(values)
    table.headers = list(seen)
    return table


def _ndjson_objects(text: str, name: str, limits: Limits) -> list[tuple[int, object]]:
    objects = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            objects.append((len(objects) + 1, _loads(line)))
        except ValueError as exc:
            raise ImportFailed(name, f"line {number} is not valid JSON",
                               row=len(objects) + 1) from exc
        check_rows(name, len(objects), limits)
    return objects


def read_json(text: str, name: str, limits: Limits) -> FlatTable:
    """A JSON array of objects, or NDJSON (one object per line)."""
    if text.lstrip().startswith("["):
        try:
            items = _loads(text)
        except ValueError as exc:
            raise ImportFailed(name, f"is not valid JSON (near line {_line(text, exc)})",
                               row=_line(text, exc)) from exc
        check_rows(name, len(items), limits)
        return _table(list(enumerate(items, start=1)), name)
    return _table(_ndjson_objects(text, name, limits), name)


def _line(text: str, exc: ValueError) -> int:
    return getattr(exc, "lineno", 0) or text.count("\n") + 1


def read_flat(path: Path, mapping: Mapping | None = None, encoding: str | None = None,
              limits: Limits | None = None) -> FlatTable:
    """The records of one flat file as text values, JSON or delimited by its content."""
    mapping = mapping or Mapping()
    limits = limits or Limits.from_config()
    text = read_text(path, encoding or mapping.encoding, limits)
    first = text.lstrip()[:1]
    if path.suffix.lower() in (".json", ".ndjson", ".jsonl") or (first and first in "[{"):
        table = read_json(text, path.name, limits)
        if not _has_identity(table.headers, mapping):
            raise ImportFailed(path.name, "no email or patient id field in the records")
        return table
    return read_delimited(text, path.name, mapping, limits)
