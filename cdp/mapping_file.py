"""Mapping files (`--mapping FILE`): how one source's columns map onto Sendwell.

The file is one JSON object; every key is optional:

    {
      "columns": {
        "Patient Number": "cdp_id",          # a Sendwell field (see cdp.mapping.ALIASES)
        "E-mail Address": "email",
        "Loyalty Tier":   "trait:loyalty_tier",  # a custom attribute, `trait:NAME`
        "Internal Notes": "ignore"           # dropped at read time
      },
      "date_formats": {
        "DOB": "DD/MM/YYYY",                 # tokens YYYY MM DD, or a strptime pattern
        "Last Visit": "MM/DD/YYYY"           # a trait column: stored as ISO 8601
      },
      "delimiter": ";",                      # CSV only: , ; TAB (\\t) or |
      "encoding": "cp1252"                   # utf-8 (default), utf-16 or cp1252
    }

Column names match the file's headers after trimming and ignoring case, spaces and
dashes. Columns not named are mapped from their header (known aliases, else a trait).
Columns Sendwell never stores (SSN, licence, passport, income…) are dropped whatever
the mapping says. A `--encoding` given on the command line wins over the file's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cdp.dates import strptime_format
from cdp.mapping import ALIASES, IGNORE, header_key
from cdp.report import ImportFailed

DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class Mapping:
    """A parsed mapping file; `columns` and `date_formats` are keyed by `header_key`."""

    columns: dict[str, str] = field(default_factory=dict)
    date_formats: dict[str, str] = field(default_factory=dict)
    delimiter: str | None = None
    encoding: str | None = None

    def formats_for(self, headers: list[str]) -> dict[str, str]:
        """{original header: strptime format} for the headers that declare one."""
        return {h: self.date_formats[header_key(h)] for h in headers
                if header_key(h) in self.date_formats}


def _target(raw, name: str, column: str) -> str:
    target = str(raw).strip()
    if target == IGNORE or target in ALIASES:
        return target
    if target.startswith("trait:") and header_key(target[6:]):
        return "trait:" + header_key(target[6:])
    raise ImportFailed(name, f"column {column!r} maps to {target!r}, which is neither a "
                       "Sendwell field, `trait:NAME` nor `ignore`", field=column)


def _date_format(raw, name: str, column: str) -> str:
    try:
        return strptime_format(str(raw))
    except ValueError as exc:
        raise ImportFailed(name, f"date format for column {column!r} needs YYYY, MM and DD",
                           field=column) from exc


def parse_mapping(doc, name: str = "mapping") -> Mapping:
    """A validated Mapping from the decoded JSON document."""
    if not isinstance(doc, dict):
        raise ImportFailed(name, "a mapping file holds one JSON object")
    columns = {header_key(c): _target(t, name, c) for c, t in (doc.get("columns") or {}).items()}
    fields = [t for t in columns.values() if t != IGNORE and not t.startswith("trait:")]
    if len(fields) != len(set(fields)):
        raise ImportFailed(name, "two columns map to the same Sendwell field")
    formats = {header_key(c): _date_format(f, name, c)
               for c, f in (doc.get("date_formats") or {}).items()}
    delimiter = doc.get("delimiter")
    if delimiter is not None and delimiter not in DELIMITERS:
        raise ImportFailed(name, "delimiter must be one of , ; TAB |")
    return Mapping(columns, formats, delimiter, doc.get("encoding"))


def load_mapping(source: Path | dict | Mapping | None) -> Mapping:
    """A Mapping from a file path, an already-decoded dict, or nothing (all defaults)."""
    if source is None or isinstance(source, Mapping):
        return source or Mapping()
    if isinstance(source, dict):
        return parse_mapping(source)
    path = Path(source)
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ImportFailed(path.name, "mapping file cannot be read") from exc
    except ValueError as exc:
        raise ImportFailed(path.name, "mapping file is not valid JSON") from exc
    return parse_mapping(doc, path.name)
