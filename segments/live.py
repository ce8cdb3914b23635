"""What the visual builder needs: live counts with breakdowns, and the values to pick from.

`live_count` answers one edit of the rule (count, reachable, English summary, breakdown by
lifecycle stage and age band); `masked` hides counts from 1 to 10 before they leave the
server. `builder_options` lists each field's operators and the values present in the data.
Aggregates only: no patient row or id leaves this module.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from patients.condition_groups import slugs as value_set_slugs
from patients.facets import RISK_GROUPS
from segments import service
from segments.columns import slug_table
from segments.describe import FIELD_LABELS, OP_WORDS, describe
from segments.evaluate import ages_on, reachable_mask
from segments.operators import to_dates
from segments.rules import EVENT_OPS, FIELD_KINDS, KIND_OPS, LIFECYCLE_STAGES, parse_rule

SMALL_COUNT = "<11"
AGE_BANDS = [(0, 17, "0–17"), (18, 34, "18–34"), (35, 49, "35–49"), (50, 64, "50–64"),
             (65, 200, "65+")]
TRAIT_OPS = ("eq", "neq", "in", "not_in", "includes", "excludes", "gt", "gte", "lt", "lte",
             "between", "is_empty", "is_not_empty")
PRESENT_FIELDS = {"state": "state", "language": "language", "timezone": "timezone",
                  "zip3": "zip3"}
FIXED_VALUES = {"sex": ["F", "M", "other", "unknown"], "email_opt_in": ["yes", "no"],
                "lifecycle_stage": list(LIFECYCLE_STAGES)}


def live_count(session: Session, rule: dict, as_of=None) -> dict:
    """Count, reachable, summary and breakdowns of `rule` (raises `RuleError`)."""
    node = parse_rule(rule)
    population = service.load_population(session)
    instant = service.resolve_as_of(as_of)
    mask = population.members(session, node, instant).to_numpy()
    reach = reachable_mask(population.facets).to_numpy() & mask
    today = instant.astimezone(_zone()).date()
    return {
        "count": int(mask.sum()), "reachable": int(reach.sum()), "summary": describe(node),
        "breakdown": {"lifecycle_stage": _stages(population.facets, mask),
                      "age_band": _age_bands(population, mask, today)},
    }


def _zone():
    from zoneinfo import ZoneInfo

    from flask import current_app

    return ZoneInfo(current_app.config["ORG_TIMEZONE"])


def _stages(facets: pd.DataFrame, mask: np.ndarray) -> dict[str, int]:
    stages = facets["lifecycle_stage"].to_numpy()[mask]
    counts = pd.Series(stages, dtype=object).fillna("unknown").value_counts()
    ordered = [s for s in (*LIFECYCLE_STAGES, "unknown") if s in counts.index]
    ordered += sorted(str(s) for s in counts.index if s not in ordered)
    return {stage: int(counts[stage]) for stage in ordered}


def _age_bands(population: service.Population, mask: np.ndarray, today: date) -> dict:
    births = population.cache.get(("static", "dates", "birth_date"))
    if births is None:
        births = to_dates(population.facets["birth_date"], _zone())
    ages = ages_on(births, today).to_numpy()[mask]
    bands = {label: int(((ages >= low) & (ages <= high)).sum()) for low, high, label in
             AGE_BANDS}
    return bands | {"unknown": int(np.isnan(ages).sum())}


def masked(result: dict) -> dict:
    """The same result with every count from 1 to 10 replaced by "<11"."""
    def hide(value):
        if isinstance(value, dict):
            return {key: hide(inner) for key, inner in value.items()}
        return SMALL_COUNT if isinstance(value, int) and 1 <= value <= 10 else value

    return {key: hide(value) if key != "summary" else value for key, value in result.items()}


def builder_options(session: Session, exclude: str | None = None) -> dict:
    """Fields with their operators and value lists, for the builder's pickers."""
    population = service.load_population(session)
    values = present_values(population)
    fields = [
        {"name": name, "label": FIELD_LABELS.get(name, name.replace("_", " ")), "kind": kind,
         "ops": list(KIND_OPS[kind]), "values": values.get(name)}
        for name, kind in FIELD_KINDS.items()
    ]
    segments = [s.name for s in service.list_segments(session) if s.name != exclude]
    return {"fields": fields, "op_words": OP_WORDS, "trait_ops": list(TRAIT_OPS),
            "event_ops": list(EVENT_OPS), "segments": segments}


def present_values(population: service.Population) -> dict[str, list[str]]:
    """Value lists for the pickers: closed vocabularies plus what the data holds."""
    slot = ("static", "builder", "values")
    if slot not in population.cache:
        facets = population.facets
        found = {field: _distinct(facets[column]) for field, column in PRESENT_FIELDS.items()}
        found["condition_group"] = sorted(set(value_set_slugs()) | _slugs(population,
                                                                           "condition_group"))
        found["risk_flag"] = sorted({"smoker", *RISK_GROUPS} | _slugs(population, "risk_flag"))
        population.cache[slot] = found | FIXED_VALUES
    return population.cache[slot]


def _distinct(column: pd.Series) -> list[str]:
    return sorted({str(v) for v in column.dropna().unique() if str(v).strip()})


def _slugs(population: service.Population, name: str) -> set[str]:
    table = population.cache.get(("static", "slugs", name))
    if table is None:
        column = "risk_flags" if name == "risk_flag" else "conditions"
        table = slug_table(population.facets[column], name)
    return {str(s) for s in table["slug"].dropna().unique()}
