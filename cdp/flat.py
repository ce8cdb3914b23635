"""Flat profile files (CSV exports): encoding, delimiter sniffing, rows as profile fragments.

UTF-8 with or without a byte-order mark; delimiter chosen among `, ; TAB |` as the one
whose header holds an email or patient-id column. Quoted line breaks stay in their value
and row numbers count records (header excluded), not lines.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from cdp.mapping import column_targets
from cdp.report import ImportFailed
from cdp.sources import read_text

DELIMITERS = (",", ";", "\t", "|")
IDENTITY_FIELDS = {"cdp_id", "email"}


def _header(text: str, delimiter: str) -> list[str]:
    return next(csv.reader(io.StringIO(text), delimiter=delimiter), [])


def sniff_delimiter(text: str, name: str) -> str:
    """The candidate delimiter whose header names an identity column (most columns wins)."""
    best, best_width = None, 0
    for delimiter in DELIMITERS:
        header = _header(text, delimiter)
        targets = set(column_targets(header).values())
        if targets & IDENTITY_FIELDS and len(header) > best_width:
            best, best_width = delimiter, len(header)
    if best is None:
        seen = text.splitlines()[0][:200] if text.strip() else "(empty file)"
        raise ImportFailed(name, f"no email or patient id column in the header {seen!r}")
    return best


def read_flat(path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """(rows as strings, {header: target}) of one flat file; row i is record i + 1."""
    text = read_text(path)
    delimiter = sniff_delimiter(text, path.name)
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
            engine="c", skip_blank_lines=True,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise ImportFailed(path.name, "is not a well-formed delimited file") from exc
    return frame, column_targets(list(frame.columns))
