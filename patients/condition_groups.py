"""Condition groups: value sets of SNOMED CT (and ICD-10 prefixes) shipped as data files.

Each `patients/value_sets/<slug>.json` names one group; its slug is what segments use
(`condition_group includes prediabetes`).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

VALUE_SET_DIR = Path(__file__).resolve().parent / "value_sets"


@cache
def value_sets() -> dict[str, dict]:
    """Every value set by slug, read once."""
    sets = {}
    for path in sorted(VALUE_SET_DIR.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        sets[doc["slug"]] = doc
    return sets


@cache
def _snomed_index() -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for slug, doc in value_sets().items():
        for entry in doc["codes"]:
            index.setdefault(entry["code"], []).append(slug)
    return {code: tuple(slugs) for code, slugs in index.items()}


def groups_for_code(code: str) -> tuple[str, ...]:
    """The groups a SNOMED CT code or an ICD-10 code belongs to (empty if none)."""
    code = (code or "").strip()
    found = _snomed_index().get(code)
    if found:
        return found
    upper = code.upper()
    return tuple(
        slug for slug, doc in value_sets().items()
        if any(upper.startswith(prefix) for prefix in doc.get("icd10_prefixes", ()))
    ) if upper[:1].isalpha() else ()


def slugs() -> list[str]:
    return list(value_sets())
