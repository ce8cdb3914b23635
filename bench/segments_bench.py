"""Live segment counts over 1,000,000 synthetic patients and ~2,000,000 events.

Measures the encrypted columnar facet snapshot (`patients.snapshot`): building it (pack +
AES-GCM per 50k-patient block), a cold load (decrypt blocks → decoded frame and arrays),
and warm counts through `segments.evaluate` for three rules, beside a baseline measured in
the same run: a plain pandas boolean mask over an unencrypted in-memory frame with the
answers' inputs precomputed (condition bitmask, age column). Medians of repeats.
Run alone: `.venv/bin/python -m bench.segments_bench`.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from bench.timing import median_seconds
from core.crypto import DataKey, KeyRing
from patients.facets import FRAME_COLUMNS
from patients.snapshot import BLOCK_ROWS, decode_blocks, encode_block
from segments.columns import seed_from_snapshot
from segments.evaluate import ages_on, evaluate

PATIENTS = 1_000_000
EVENTS = 2_000_000
AS_OF = datetime(2024, 1, 1, 5, 59, 59, tzinfo=UTC)  # end of 2023-12-31, Chicago
TODAY = date(2023, 12, 31)
GROUPS = ["diabetes", "prediabetes", "hypertension", "obesity", "asthma_copd", "tobacco_use",
          "pregnancy", "chronic_kidney_disease"]
STATES = [("Nebraska", "NE"), ("Iowa", "IA"), ("Kansas", "KS"), ("Missouri", "MO"),
          ("South Dakota", "SD")]
EVENT_NAMES = ["Appointment Booked", "Appointment Missed", "Portal Login", "Form Submitted",
               "Prescription Filled"]
RULES = {
    "condition_or": {"any": [{"field": "condition_group", "op": "includes", "value": g}
                             for g in ("diabetes", "prediabetes", "hypertension")]},
    "age_sex_state": {"all": [{"field": "age", "op": "between", "value": [40, 65]},
                              {"field": "sex", "op": "eq", "value": "F"},
                              {"field": "state", "op": "in", "value": ["Nebraska", "IA"]}]},
    "event_90d": {"event": "Appointment Missed", "op": "count_at_least", "value": 1,
                  "within_days": 90},
    "six_clause": {"all": [
        {"any": [{"field": "condition_group", "op": "includes", "value": "prediabetes"},
                 {"field": "risk_flag", "op": "includes", "value": "obesity"}]},
        {"field": "age", "op": "between", "value": [35, 70]},
        {"field": "last_visit", "op": "more_than_ago", "value": {"months": 12}},
        {"event": "Portal Login", "op": "count_at_most", "value": 0, "within_days": 90},
        {"not": {"field": "state", "op": "eq", "value": "KS"}}]},
}


def _dates(rng, low: date, high: date, size: int, empty: float) -> np.ndarray:
    days = rng.integers((low - date(1970, 1, 1)).days, (high - date(1970, 1, 1)).days, size)
    uniques, inverse = np.unique(days, return_inverse=True)
    objects = np.array([date(1970, 1, 1) + timedelta(days=int(d)) for d in uniques] + [None],
                       dtype=object)
    inverse[rng.random(size) < empty] = len(uniques)
    return objects[inverse]


def _conditions(rng, size: int) -> tuple[list, np.ndarray]:
    """Per patient 0–3 episodes; also the baseline's bitmask of groups active today."""
    counts = rng.choice(4, size, p=[0.45, 0.3, 0.15, 0.1])
    total = int(counts.sum())
    groups = rng.integers(0, len(GROUPS), total)
    onset = rng.integers(-3000, 0, total)
    abated = np.where(rng.random(total) < 0.2, rng.integers(-1000, 200, total), 10**6)
    active = (onset <= 0) & (abated >= 0)
    bits = np.zeros(size, dtype=np.int64)
    owners = np.repeat(np.arange(size), counts)
    np.bitwise_or.at(bits, owners[active], 1 << groups[active])
    iso = {d: (TODAY + timedelta(days=int(d))).isoformat()
           for d in np.unique(np.concatenate([onset, abated[abated < 10**6]]))}
    lists: list[list] = [[] for _ in range(size)]
    for who, g, o, a in zip(owners.tolist(), groups.tolist(), onset.tolist(), abated.tolist(),
                            strict=True):
        lists[who].append({"group": GROUPS[g], "onset": iso[o],
                           "abated": iso[a] if a < 10**6 else None})
    return lists, bits


def synthetic_frame(size: int = PATIENTS, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """A facet frame in the `facet_frame` schema, and each patient's active-group bitmask."""
    rng = np.random.default_rng(seed)
    state = rng.integers(0, len(STATES), size)
    conditions, bits = _conditions(rng, size)
    flags = np.array([[], ["smoker"], ["obesity"], ["smoker", "hypertension"]], dtype=object)
    data = {
        "birth_date": _dates(rng, date(1930, 1, 1), date(2020, 1, 1), size, 0.01),
        "deceased": rng.random(size) < 0.01,
        "sex": np.array(["F", "M", "other", "unknown"], dtype=object)[
            rng.choice(4, size, p=[0.5, 0.47, 0.01, 0.02])],
        "state": np.array([s for s, _ in STATES], dtype=object)[state],
        "state_code": np.array([c for _, c in STATES], dtype=object)[state],
        "zip3": np.array(["680", "681", "685", "503", "664"], dtype=object)[state],
        "language": np.array(["en", "es", ""], dtype=object)[rng.choice(3, size, p=[.8, .15, .05])],
        "timezone": np.array(["America/Chicago", None], dtype=object)[rng.choice(2, size)],
        "email_usable": rng.random(size) < 0.9,
        "email_opt_in": np.array(["yes", "no", ""], dtype=object)[rng.choice(3, size)],
        "marketing_authorized_at": _dates(rng, date(2020, 1, 1), date(2023, 12, 1), size, 0.7),
        "suppressed": rng.random(size) < 0.01,
        "lifecycle_stage": np.array(["onboarding", "active_treatment", "follow_up",
                                     "preventive", "re_engagement", None], dtype=object)[
            rng.integers(0, 6, size)],
        "risk_flags": [list(f) for f in flags[rng.integers(0, 4, size)]],
        "conditions": conditions,
        "last_visit": _dates(rng, date(2019, 1, 1), date(2023, 12, 31), size, 0.1),
        "traits": [{} for _ in range(size)],
    }
    index = pd.Index([f"{i:032x}" for i in range(size)], name="patient_id", dtype=object)
    frame = pd.DataFrame({c: pd.Series(data[c], index=index, dtype=object)
                          for c in FRAME_COLUMNS}, index=index)
    return frame.astype({"deceased": bool, "email_usable": bool, "suppressed": bool}), bits


def synthetic_events(index: pd.Index, size: int = EVENTS, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, 365 * 86400, size)
    occurred = pd.to_datetime(AS_OF) - pd.to_timedelta(seconds, unit="s")
    empty: dict = {}
    return pd.DataFrame({
        "patient_id": pd.Series(index.to_numpy()[rng.integers(0, len(index), size)],
                                dtype=object),
        "name": pd.Series(np.array(EVENT_NAMES, dtype=object)[rng.integers(0, 5, size)],
                          dtype=object),
        "occurred_at": occurred,
        "properties": pd.Series([empty] * size, dtype=object),
    })


def build_blocks(ring: KeyRing, frame: pd.DataFrame) -> list[tuple[str, bytes]]:
    """Pack and encrypt the frame as the snapshot stores it (block id, ciphertext)."""
    blocks = []
    for number, start in enumerate(range(0, len(frame), BLOCK_ROWS)):
        block_id = f"{number:032x}"
        packed = encode_block(frame.iloc[start:start + BLOCK_ROWS])
        blocks.append((block_id, ring.encrypt(packed, "facet_blocks", "data_enc", block_id)))
    return blocks


def cold_load(ring: KeyRing, blocks: list[tuple[str, bytes]]):
    blobs = [ring.decrypt(blob, "facet_blocks", "data_enc", bid) for bid, blob in blocks]
    return decode_blocks("bench", blobs)


def baselines(frame: pd.DataFrame, bits: np.ndarray, events: pd.DataFrame) -> dict:
    """The same rules as plain pandas masks over unencrypted, precomputed columns."""
    plain = pd.DataFrame({
        "bits": bits, "sex": frame["sex"].astype(str),
        "state": frame["state_code"].astype(str), "deceased": frame["deceased"],
        "age": ages_on(frame["birth_date"], TODAY),
    }, index=frame.index)
    wanted = sum(1 << GROUPS.index(g) for g in ("diabetes", "prediabetes", "hypertension"))
    start = pd.Timestamp(datetime(2023, 10, 3, 5, 0, tzinfo=UTC))

    def event_mask():
        hit = events[(events["name"] == "Appointment Missed") & (events["occurred_at"] >= start)
                     & (events["occurred_at"] <= AS_OF)]
        return plain.index.isin(hit["patient_id"].unique()) & ~plain["deceased"].to_numpy()

    return {
        "condition_or": lambda: ((plain["bits"] & wanted) != 0) & ~plain["deceased"],
        "age_sex_state": lambda: (plain["age"].between(40, 65) & (plain["sex"] == "F")
                                  & plain["state"].isin(["NE", "IA"]) & ~plain["deceased"]),
        "event_90d": event_mask,
    }


def run() -> dict:
    ring = KeyRing(os.urandom(32), [DataKey(1, "data", os.urandom(32)),
                                    DataKey(1, "index", os.urandom(32))])
    started = time.perf_counter()
    frame, bits = synthetic_frame()
    events = synthetic_events(frame.index)
    generated = time.perf_counter() - started
    start = time.perf_counter()
    blocks = build_blocks(ring, frame)
    build = time.perf_counter() - start
    cold = median_seconds(lambda: cold_load(ring, blocks), repeats=3)
    snapshot = cold_load(ring, blocks)
    cache = seed_from_snapshot(snapshot)
    result = {
        "name": "segment_live_count", "patients": PATIENTS, "events": len(events),
        "blocks": len(blocks), "snapshot_bytes": sum(len(b) for _, b in blocks),
        "generate_seconds": round(generated, 2), "build_snapshot_seconds": round(build, 2),
        "cold_load_seconds": round(cold, 3), "rules": {},
    }
    base = baselines(snapshot.frame, bits, events)
    for name, rule in RULES.items():
        result["rules"][name] = _measure(rule, snapshot.frame, events, cache, base.get(name))
    result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


def _measure(rule: dict, frame: pd.DataFrame, events: pd.DataFrame, cache: dict,
             baseline) -> dict:
    def count():
        return int(evaluate(rule, frame, events, AS_OF, tz="America/Chicago",
                            cache=cache).sum())

    start = time.perf_counter()
    found = count()
    first = time.perf_counter() - start
    warm = median_seconds(count, repeats=7)
    out = {"count": found, "first_count_seconds": round(first, 3),
           "warm_count_ms": round(warm * 1000, 1)}
    if baseline is not None:
        base = median_seconds(baseline, repeats=7)
        out |= {"baseline_count": int(np.asarray(baseline()).sum()),
                "baseline_ms": round(base * 1000, 1), "ratio_to_baseline": round(warm / base, 2)}
    return out


if __name__ == "__main__":
    json.dump(run(), sys.stdout, indent=2)
    print()
