"""The encrypted columnar facet snapshot that live counts read instead of decrypting per row.

Owns three things:

- **Change tokens.** Any insert, update or delete of `patients`, `patient_events` or
  `suppressions` through a `Session` gives `facet_state` a fresh random token for that
  table, in the same transaction (at commit, or at the next snapshot read inside it). Every
  process compares tokens, so none answers from data older than the last commit.
- **The snapshot.** Every patient's facets packed column by column (numpy buffers behind a
  JSON header; text dictionary-encoded, dates as day numbers, condition groups and risk
  flags as long tables) into blocks of `BLOCK_ROWS` patients, each sealed with AES-GCM and
  the associated data `facet_blocks.data_enc.<id>`. Rebuilt lazily, in the caller's
  transaction, when the patients token has moved; the database never holds plaintext.
- **The process cache.** Blocks decrypted and decoded once per generation into a
  `FacetSnapshot`: the `facet_frame` contract frame plus the columnar arrays the segment
  evaluator uses, with the suppression list applied per suppressions token.
Writers that bypass the `Session` (raw `COPY`) call `mark_changed(session, table)`.
"""

from __future__ import annotations

import json
import struct
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import chain

import numpy as np
import pandas as pd
from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.crypto import key_ring
from core.db import new_id
from core.keys import indexes_rewritten
from patients.models import FacetBlock, FacetState, Patient, Suppression

BLOCK_ROWS = 50_000
TEXT = ("sex", "state", "state_code", "zip3", "language", "timezone", "email_opt_in",
        "lifecycle_stage")
FLAGS = ("deceased", "email_usable")
DATES = ("birth_date", "marketing_authorized_at", "last_visit")
NULL_DAY = np.iinfo(np.int32).min
EPOCH_DAY = date(1970, 1, 1)
MAGIC = b"FB1\n"
TOKENS = {"patients": "facets_token", "patient_events": "events_token",
          "suppressions": "suppressions_token"}
_PENDING = "sendwell.facet_changes"


STATE = FacetState.__table__
BLOCKS = FacetBlock.__table__


# --- change tokens ---------------------------------------------------------------------


@indexes_rewritten.connect
def _indexes_rewritten(table: str, session: Session | None = None, **_extra) -> None:
    """A key rotation rewrote blind indexes outside the ORM: the cached joins are stale."""
    if session is not None:
        mark_changed(session, table)



def mark_changed(session: Session, table: str) -> None:
    """Note that rows of `table` changed in this transaction (applied before commit)."""
    if table in TOKENS:
        session.info.setdefault(_PENDING, set()).add(TOKENS[table])


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        mark_changed(state.session, getattr(state.statement.table, "name", ""))


@event.listens_for(Session, "before_flush")
def _note_flush(session: Session, _context, _instances) -> None:
    for obj in chain(session.new, session.dirty, session.deleted):
        mark_changed(session, getattr(obj, "__tablename__", ""))


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.info.get(_PENDING) or session.new or session.dirty or session.deleted:
        session.flush()
    apply_pending(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def apply_pending(session: Session) -> None:
    """Give every table changed in this transaction a new token."""
    columns = session.info.pop(_PENDING, None)
    if columns:
        _ensure_state(session)
        values = {column: new_id() for column in sorted(columns)}
        session.execute(update(STATE).where(STATE.c.id == 1).values(**values))


def _ensure_state(session: Session) -> None:
    maker = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    fresh = {column: new_id() for column in TOKENS.values()}
    session.execute(maker(STATE).values(id=1, block_count=0, **fresh)
                    .on_conflict_do_nothing(index_elements=["id"]))


def current_state(session: Session, lock: bool = False):
    """The `facet_state` row (pending changes of this transaction applied first)."""
    apply_pending(session)
    query = select(STATE).where(STATE.c.id == 1)
    row = session.execute(query.with_for_update() if lock else query).first()
    if row is None:
        _ensure_state(session)
        row = session.execute(query).first()
    return row


def events_version(session: Session) -> str:
    """A token that changes whenever behavioural events change."""
    return current_state(session).events_token


# --- block codec -----------------------------------------------------------------------


def _pack(header: dict, arrays: dict[str, np.ndarray]) -> bytes:
    layout, chunks, offset = {}, [], 0
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        layout[name] = [array.dtype.str, offset, len(array)]
        chunks.append(array.tobytes())
        offset += array.nbytes
    head = json.dumps({**header, "arrays": layout}, separators=(",", ":")).encode()
    return MAGIC + struct.pack(">I", len(head)) + head + b"".join(chunks)


def _unpack(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    if data[:4] != MAGIC:
        raise ValueError("not a facet block")
    size = struct.unpack_from(">I", data, 4)[0]
    header = json.loads(data[8:8 + size])
    body = memoryview(data)[8 + size:]
    arrays = {
        name: np.frombuffer(body, dtype=np.dtype(kind), count=count, offset=offset)
        if count else np.empty(0, dtype=np.dtype(kind))
        for name, (kind, offset, count) in header.pop("arrays").items()
    }
    return header, arrays


def _day(value) -> int:
    if isinstance(value, str):
        value = date.fromisoformat(value[:10]) if value else None
    return (value - EPOCH_DAY).days if value else NULL_DAY


def encode_block(frame: pd.DataFrame) -> bytes:
    """One block: a slice of the contract frame (as built by `frame_from_rows`)."""
    header: dict = {"ids": [str(i) for i in frame.index], "dicts": {}}
    arrays: dict[str, np.ndarray] = {}
    for column in TEXT + ("traits",):
        values = frame[column] if column != "traits" else frame[column].map(
            lambda t: json.dumps(t, sort_keys=True, default=str))
        codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
        arrays[column] = codes.astype(np.int32)
        header["dicts"][column] = list(uniques)
    for column in FLAGS:
        arrays[column] = frame[column].to_numpy(dtype=np.uint8)
    for column in DATES:
        arrays[column] = np.array([_day(v) for v in frame[column]], dtype=np.int32)
    header["dicts"]["risk_flags"] = _encode_flags(frame["risk_flags"], arrays)
    header["dicts"]["conditions"] = _encode_conditions(frame["conditions"], arrays)
    return _pack(header, arrays)


def _encode_flags(column: pd.Series, arrays: dict) -> list[str]:
    pairs = [(pos, flag) for pos, flags in enumerate(column) for flag in flags]
    codes, uniques = pd.factorize(np.array([f for _, f in pairs], dtype=object))
    arrays["flag_pos"] = np.array([p for p, _ in pairs], dtype=np.int32)
    arrays["flag_code"] = codes.astype(np.int32)
    return list(uniques)


def _encode_conditions(column: pd.Series, arrays: dict) -> list[str]:
    rows = [(pos, c.get("group"), _day(c.get("onset")), _day(c.get("abated")))
            for pos, conditions in enumerate(column) for c in conditions]
    codes, uniques = pd.factorize(np.array([r[1] for r in rows], dtype=object))
    arrays["cond_pos"] = np.array([r[0] for r in rows], dtype=np.int32)
    arrays["cond_group"] = codes.astype(np.int32)
    arrays["cond_onset"] = np.array([r[2] for r in rows], dtype=np.int32)
    arrays["cond_abated"] = np.array([r[3] for r in rows], dtype=np.int32)
    return list(uniques)


CODED = {**{c: c for c in TEXT}, "traits": "traits", "flag_code": "risk_flags",
         "cond_group": "conditions"}


class _Merger:
    """Concatenates decoded blocks, re-coding each block's dictionaries into global ones."""

    def __init__(self):
        self.ids: list[str] = []
        self.parts: dict[str, list[np.ndarray]] = {}
        self.dicts: dict[str, dict] = {key: {} for key in CODED.values()}

    def add(self, header: dict, arrays: dict[str, np.ndarray]) -> None:
        offset = len(self.ids)
        self.ids.extend(header["ids"])
        for name, array in arrays.items():
            if name in CODED:
                array = self._recode(CODED[name], header["dicts"][CODED[name]], array)
            elif name.endswith("_pos"):
                array = array.astype(np.int64) + offset
            self.parts.setdefault(name, []).append(array)

    def _recode(self, key: str, values: list, codes: np.ndarray) -> np.ndarray:
        known = self.dicts[key]
        table = np.array([known.setdefault(v, len(known)) for v in values] + [-1], np.int32)
        return table[codes]

    def columns(self) -> dict[str, np.ndarray]:
        empty = {name: np.empty(0, np.int64 if name.endswith("_pos") else np.int32)
                 for name in (*TEXT, "traits", *DATES, "flag_pos", "flag_code", "cond_pos",
                              "cond_group", "cond_onset", "cond_abated")}
        empty.update({name: np.empty(0, np.uint8) for name in FLAGS})
        return empty | {name: np.concatenate(parts) for name, parts in self.parts.items()}


def _objects(values: list) -> np.ndarray:
    """An object array of `values` plus a trailing None (so code -1 means missing)."""
    out = np.empty(len(values) + 1, dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def _from_days(days: np.ndarray, convert) -> np.ndarray:
    uniques, inverse = np.unique(days, return_inverse=True)
    values = [None if d == NULL_DAY else convert(EPOCH_DAY + timedelta(days=int(d)))
              for d in uniques]
    return _objects(values)[inverse.reshape(-1)]


def _lists(size: int, positions: np.ndarray, values) -> list[list]:
    out: list[list] = [[] for _ in range(size)]
    for pos, value in zip(positions.tolist(), values, strict=True):
        out[pos].append(value)
    return out


@dataclass(frozen=True)
class FacetSnapshot:
    """Every patient's facets, decoded: the contract frame and its columnar arrays."""

    generation: str
    frame: pd.DataFrame
    columns: dict[str, np.ndarray] = field(repr=False)
    dicts: dict[str, list] = field(repr=False)
    key: str = ""

    def condition_table(self) -> pd.DataFrame:
        """(pos, slug, start, end) per condition episode; days since 1970, NULL_DAY empty."""
        return self._long("cond_pos", "cond_group", "conditions",
                          self.columns["cond_onset"], self.columns["cond_abated"])

    def flag_table(self) -> pd.DataFrame:
        nulls = np.full(len(self.columns["flag_pos"]), NULL_DAY, dtype=np.int32)
        return self._long("flag_pos", "flag_code", "risk_flags", nulls, nulls)

    def _long(self, pos: str, code: str, key: str, start, end) -> pd.DataFrame:
        slugs = pd.Categorical.from_codes(self.columns[code],
                                          pd.Index(self.dicts[key], dtype=object))
        return pd.DataFrame({"pos": self.columns[pos], "slug": slugs, "start": start,
                             "end": end})

    def dates(self, column: str) -> pd.Series:
        """A date column as datetime64 (NaT when empty), aligned to the frame."""
        days = self.columns[column].astype(np.int64)
        days[days == NULL_DAY] = np.iinfo(np.int64).min
        values = days.view("datetime64[D]").astype("datetime64[s]")
        return pd.Series(values, index=self.frame.index)


def decode_blocks(generation: str, blobs: list[bytes]) -> FacetSnapshot:
    """The snapshot held by `blobs` (decrypted blocks in block order)."""
    merger = _Merger()
    for blob in blobs:
        merger.add(*_unpack(blob))
    columns = merger.columns()
    dicts = {key: list(known) for key, known in merger.dicts.items()}
    frame = _frame(merger.ids, columns, dicts)
    return FacetSnapshot(generation, frame, columns, dicts)


def _frame(ids: list[str], cols: dict[str, np.ndarray], dicts: dict[str, list]) -> pd.DataFrame:
    from patients.facets import FRAME_COLUMNS

    size = len(ids)
    data: dict = {c: _objects(dicts[c])[cols[c]] for c in TEXT}
    data |= {c: _from_days(cols[c], lambda d: d) for c in DATES}
    data["risk_flags"] = _lists(size, cols["flag_pos"],
                                _objects(dicts["risk_flags"])[cols["flag_code"]].tolist())
    data["conditions"] = _lists(size, cols["cond_pos"], _condition_dicts(cols, dicts))
    parsed = [json.loads(t) for t in dicts["traits"]]
    data["traits"] = [dict(parsed[c]) for c in cols["traits"].tolist()]
    index = pd.Index(ids, name="patient_id", dtype=object)
    frame = pd.DataFrame({c: pd.Series(data[c], index=index, dtype=object)
                          for c in FRAME_COLUMNS if c in data}, index=index)
    for column in FLAGS:
        frame[column] = cols[column].astype(bool)
    frame["suppressed"] = np.zeros(size, dtype=bool)
    return frame[FRAME_COLUMNS]


def _condition_dicts(cols: dict[str, np.ndarray], dicts: dict[str, list]) -> list[dict]:
    groups = _objects(dicts["conditions"])[cols["cond_group"]].tolist()
    onsets = _from_days(cols["cond_onset"], date.isoformat).tolist()
    abated = _from_days(cols["cond_abated"], date.isoformat).tolist()
    return [{"group": g, "onset": o, "abated": a}
            for g, o, a in zip(groups, onsets, abated, strict=True)]


# --- building and loading --------------------------------------------------------------


def rebuild(session: Session) -> str:
    """Re-pack every patient's facets into a new generation of blocks (if stale)."""
    from patients.facets import frame_from_rows

    state = current_state(session, lock=True)
    if state.generation and state.built_from == state.facets_token:
        return state.generation
    ring, generation, count = key_ring(), new_id(), 0
    query = (select(Patient.id, Patient.facets_enc).order_by(Patient.id)
             .execution_options(yield_per=BLOCK_ROWS))
    for chunk in session.execute(query).partitions():
        rows = [(pid, ring.decrypt_json(blob, "patients", "facets_enc", pid), False)
                for pid, blob in chunk]
        block_id = new_id()
        data = ring.encrypt(encode_block(frame_from_rows(rows)), "facet_blocks", "data_enc",
                            block_id)
        session.execute(insert(BLOCKS).values(id=block_id, block_no=count,
                                              generation=generation, data_enc=data))
        count += 1
    keep = [generation, state.generation or generation]  # readers may still load the last
    session.execute(delete(BLOCKS).where(BLOCKS.c.generation.not_in(keep)))
    session.execute(update(STATE).where(STATE.c.id == 1).values(
        generation=generation, built_from=state.facets_token, block_count=count))
    return generation


_lock = threading.Lock()
_decoded: dict[str, FacetSnapshot] = {}
_suppressed: dict[str, FacetSnapshot] = {}
CACHED_GENERATIONS = 2


def facet_snapshot(session: Session) -> FacetSnapshot:
    """The current snapshot (rebuilt if patients changed), suppression list applied."""
    key_ring()  # load (and first create) the keys before this session takes a write lock
    state = current_state(session)
    if not state.generation or state.built_from != state.facets_token:
        rebuild(session)
        state = current_state(session)
    key = f"{state.generation}:{state.suppressions_token}"
    with _lock:
        if key not in _suppressed:
            base = _decoded.get(state.generation) or _load(session, state)
            _remember(_decoded, state.generation, base)
            _remember(_suppressed, key, _apply_suppressions(session, base, key))
        return _suppressed[key]


def _remember(cache: dict, key: str, value: FacetSnapshot) -> None:
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > CACHED_GENERATIONS:
        cache.pop(next(iter(cache)))


def _load(session: Session, state) -> FacetSnapshot:
    ring = key_ring()
    query = (select(BLOCKS.c.id, BLOCKS.c.data_enc)
             .where(BLOCKS.c.generation == state.generation).order_by(BLOCKS.c.block_no))
    rows = session.execute(query).all()
    if len(rows) != state.block_count:
        raise RuntimeError("facet snapshot blocks changed while loading; retry")
    blobs = [ring.decrypt(blob, "facet_blocks", "data_enc", block_id) for block_id, blob in rows]
    return decode_blocks(state.generation, blobs)


def _apply_suppressions(session: Session, base: FacetSnapshot, key: str) -> FacetSnapshot:
    query = select(Patient.id).join(Suppression, Suppression.email_bidx == Patient.email_bidx)
    suppressed = list(session.scalars(query))
    frame = base.frame
    if suppressed:
        frame = frame.assign(suppressed=frame.index.isin(suppressed))
    return FacetSnapshot(base.generation, frame, base.columns, base.dicts, key)
