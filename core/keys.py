"""Key rotation: re-wrapping the data keys under a new master key, and rotating the data
and blind-index keys themselves (re-encrypting every value, recomputing every index).

Runbook
=======

Which columns: every `*_enc` column and `caught_messages.raw` is AES-256-GCM ciphertext
whose header names its data-key version (AAD `table.column.row_id`); every `*_bidx`
column and `patients.content_hash` is a chained HMAC-SHA256 blind index.

Rotate the master key (cheap: only the wrapped keys in `key_versions` change)
  1. `flask keys rotate-master --new-key-file /secure/path/master-2025.key`
     The file is read if it exists (base64 of 32 random bytes) or generated (mode 0600).
     Every data and index key is re-wrapped under it in ONE transaction; a failure
     changes nothing.
  2. Point every process at the new key at once (`SENDWELL_MASTER_KEY_FILE=` that file,
     or `SENDWELL_MASTER_KEY=` its content) and restart them. From the commit on, the
     old master key is refused ("the master key does not open this database's data
     keys"), by this database and by backups made from now on.
  3. Escrow the new key (two custodians, offline) BEFORE destroying the old one; keep the
     old one escrowed as long as backups made under it are kept: a backup can only be
     restored with the master key that was current when it was made.

Rotate the data keys (re-encrypts every value; resumable)
  1. Pause CDP imports, event ingestion and the scheduler/sender (`flask scheduler`).
     The web app (pages, tracking, dashboards, segment counts) may keep running: it
     decrypts with any stored key version and reloads its keys when it meets a new one.
  2. `flask keys rotate-data` creates data key N+1 and blind-index key M+1, re-indexes
     the tables that hold only blind indexes (suppressions) in that first transaction,
     then walks every table with encrypted columns in batches (`--batch-size`, default
     1000), committing the batch together with its progress in `key_rotations`. It
     prints progress on stderr and ends with a pass that finds nothing left on the old
     keys; only then are the old versions marked `retired` (they still decrypt, they
     never encrypt again, and no stored value uses them).
  3. If it is killed or the machine stops, run the same command again: it resumes after
     the last committed batch. `flask keys status` shows versions and progress.
  4. Resume imports and the scheduler.
  Window: while a rotation runs, a row not yet reached still carries the old blind
  index, so a lookup by email, CDP id or message id that uses `KeyRing.blind_index`
  (newest version only) misses it — that is why imports and sending pause (a missed
  lookup would create a duplicate patient). `KeyRing.blind_indexes` returns both
  versions for lookups that must work during the window.

Blind indexes are chained (HMAC(k2, HMAC(k1, value))), so a rotation recomputes them from
the stored index alone: suppressions and event message ids keep no plaintext to re-derive
them from. A retired index key stays as an inner layer of the chain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from blinker import Namespace
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from core import audit
from core.clock import utcnow
from core.crypto import (
    KeyRing,
    ciphertext_version,
    load_key_ring,
    read_key_file,
    unwrap_key,
    wrap_key,
    write_key_file,
)
from core.db import Base
from core.errors import SendwellError
from core.models import KeyRotation, KeyVersion

ENCRYPTED_EXTRA = frozenset({("caught_messages", "raw")})
INDEX_EXTRA = frozenset({("patients", "content_hash")})
DEFAULT_BATCH = 1000
# Sent (sender: table name, session=…) when a rotation rewrote a table's blind indexes
# outside the ORM; caches derived from index joins (suppressions) subscribe to drop them.
indexes_rewritten = Namespace().signal("indexes-rewritten")


class KeyRotationError(SendwellError):
    """A rotation that cannot start or go on (the message names no value)."""


@dataclass(frozen=True)
class TablePlan:
    """The encrypted and blind-index columns of one table (AAD: table.column.row_id)."""

    table: Table
    encrypted: tuple[str, ...]
    indexes: tuple[str, ...]


def table_plans() -> list[TablePlan]:
    """Every table holding ciphertext or blind indexes, by name (a stable cursor order)."""
    plans = []
    for table in sorted(Base.metadata.tables.values(), key=lambda t: t.name):
        names = [c.name for c in table.columns]
        enc = tuple(n for n in names if n.endswith("_enc") or (table.name, n) in ENCRYPTED_EXTRA)
        idx = tuple(n for n in names if n.endswith("_bidx") or (table.name, n) in INDEX_EXTRA)
        if enc or idx:
            plans.append(TablePlan(table, enc, idx))
    return plans


# --- master key -------------------------------------------------------------------------


def new_master_key(path: Path) -> tuple[bytes, bool]:
    """The key in `path`, or a new one generated there: (key, created)."""
    if path.exists():
        return read_key_file(path), False
    write_key_file(path, AESGCM.generate_key(256))
    return read_key_file(path), True


def rotate_master(session: Session, old_master: bytes, new_master: bytes) -> int:
    """Re-wrap every stored key under `new_master` (caller commits); the count."""
    if old_master == new_master:
        raise KeyRotationError("the new master key is the current one")
    rows = session.scalars(select(KeyVersion).order_by(KeyVersion.id)).all()
    for row in rows:
        key = unwrap_key(old_master, row.wrapped_key, row.purpose, row.version)
        row.wrapped_key = wrap_key(new_master, key, row.purpose, row.version)
    audit.record(session, "cli", "keys.rotate_master", key_versions=len(rows))
    session.flush()
    return len(rows)


# --- data keys: start, batches, finish ----------------------------------------------------


def running_rotation(session: Session) -> KeyRotation | None:
    query = select(KeyRotation).where(KeyRotation.status == "running").order_by(KeyRotation.id)
    return session.scalars(query).first()


def start_rotation(session: Session, master: bytes) -> KeyRotation:
    """New data and index key versions, index-only tables re-indexed, progress row."""
    latest = dict(session.execute(
        select(KeyVersion.purpose, func.max(KeyVersion.version)).group_by(KeyVersion.purpose)
    ).all())
    if set(latest) != {"data", "index"}:
        raise KeyRotationError("no keys yet: the database has nothing to rotate")
    for purpose in ("data", "index"):
        version = latest[purpose] + 1
        key = wrap_key(master, AESGCM.generate_key(256), purpose, version)
        session.add(KeyVersion(purpose=purpose, version=version, wrapped_key=key))
    rotation = KeyRotation(
        data_from=latest["data"], data_to=latest["data"] + 1,
        index_from=latest["index"], index_to=latest["index"] + 1,
    )
    session.add(rotation)
    session.flush()
    ring = load_key_ring(session, master)
    for plan in table_plans():
        if not plan.encrypted:
            _reindex_table(session, ring, plan, rotation.index_from)
    audit.record(session, "cli", "keys.rotate_data.start",
                 data_version=rotation.data_to, index_version=rotation.index_to)
    return rotation


def _reindex_table(session: Session, ring: KeyRing, plan: TablePlan, index_from: int) -> None:
    """Lift every index of a table without ciphertext (nothing marks its rows' version, so
    it is done at once, locked, in the transaction that creates the new keys)."""
    table = plan.table
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f'LOCK TABLE "{table.name}" IN EXCLUSIVE MODE'))
    rows = session.execute(select(table.c.id, *(table.c[n] for n in plan.indexes)))
    updates = [
        {"row_id": row["id"], **{f"new_{n}": ring.reindex(row[n], index_from) if row[n] else None
                                 for n in plan.indexes}}
        for row in (r._mapping for r in rows)
    ]
    _apply(session, plan, updates)
    indexes_rewritten.send(table.name, session=session)


def _apply(session: Session, plan: TablePlan, updates: list[dict]) -> None:
    if not updates:
        return
    columns = plan.encrypted + plan.indexes
    statement = (
        update(plan.table)
        .where(plan.table.c.id == bindparam("row_id"))
        .values({name: bindparam(f"new_{name}") for name in columns})
    )
    session.connection().execute(statement, updates)


def row_update(ring: KeyRing, rotation: KeyRotation, plan: TablePlan, row) -> dict | None:
    """The new values of one row, or None when it is already on the new keys.

    A row's first ciphertext tells which index version its blind indexes carry: every
    writer computes both with the same ring, so they move together.
    """
    name, row_id = plan.table.name, row["id"]
    marker = row[plan.encrypted[0]]
    stale_indexes = marker is not None and ciphertext_version(marker) != rotation.data_to
    values, changed = {"row_id": row_id}, stale_indexes
    for column in plan.encrypted:
        blob = row[column]
        if blob is not None and ciphertext_version(blob) != rotation.data_to:
            blob = ring.encrypt(ring.decrypt(blob, name, column, row_id), name, column, row_id)
            changed = True
        values[f"new_{column}"] = blob
    for column in plan.indexes:
        value = row[column]
        if stale_indexes and value:
            value = ring.reindex(value, rotation.index_from)
        values[f"new_{column}"] = value
    return values if changed else None


def run_batch(session: Session, ring: KeyRing, rotation: KeyRotation, size: int) -> bool:
    """Rotate the next batch and move the cursor (caller commits); True when finished."""
    plans = [p for p in table_plans() if p.encrypted]
    names = [p.table.name for p in plans]
    if not plans:
        return True
    if rotation.table_name not in names:
        rotation.table_name, rotation.last_id = names[0], ""
    plan = plans[names.index(rotation.table_name)]
    table = plan.table
    columns = [table.c.id, *(table.c[n] for n in plan.encrypted + plan.indexes)]
    query = select(*columns).where(table.c.id > rotation.last_id).order_by(table.c.id)
    rows = [r._mapping for r in session.execute(query.limit(size))]
    updates = [u for row in rows if (u := row_update(ring, rotation, plan, row))]
    _apply(session, plan, updates)
    rotation.rows_changed += len(updates)
    rotation.changed_this_pass += len(updates)
    if len(rows) == size:
        rotation.last_id = rows[-1]["id"]
        return False
    return _next_table(rotation, names)


def _next_table(rotation: KeyRotation, names: list[str]) -> bool:
    position = names.index(rotation.table_name)
    rotation.last_id = ""
    if position + 1 < len(names):
        rotation.table_name = names[position + 1]
        return False
    if rotation.pass_number >= 2 and rotation.changed_this_pass == 0:
        return True
    rotation.pass_number += 1
    rotation.changed_this_pass = 0
    rotation.table_name = names[0]
    return False


def finish_rotation(session: Session, rotation: KeyRotation) -> None:
    """Retire the old versions once a whole pass found nothing left on them."""
    now = utcnow()
    old = select(KeyVersion).where(
        ((KeyVersion.purpose == "data") & (KeyVersion.version <= rotation.data_from))
        | ((KeyVersion.purpose == "index") & (KeyVersion.version <= rotation.index_from))
    )
    for key in session.scalars(old):
        if key.status != "retired":
            key.status, key.retired_at = "retired", now
    rotation.status, rotation.finished_at = "completed", now
    for plan in table_plans():
        if plan.indexes:
            indexes_rewritten.send(plan.table.name, session=session)
    audit.record(session, "cli", "keys.rotate_data.complete", data_version=rotation.data_to,
                 index_version=rotation.index_to, rows=rotation.rows_changed)


def rotate_data(session_factory: Callable[[], Session], master: bytes, batch_size: int,
                delay: float = 0.0, progress: Callable[[str], None] = print) -> dict:
    """Start (or resume) the rotation and run it to the end, one committed batch at a time."""
    with session_factory() as session:
        rotation = running_rotation(session)
        resumed = rotation is not None
        if rotation is None:
            rotation = start_rotation(session, master)
            session.commit()
        ring = load_key_ring(session, master)
        done = False
        while not done:
            done = run_batch(session, ring, rotation, batch_size)
            if done:
                finish_rotation(session, rotation)
            session.commit()
            progress(f"rotate-data: pass {rotation.pass_number}, {rotation.table_name}, "
                     f"{rotation.rows_changed} rows re-encrypted")
            if delay and not done:
                time.sleep(delay)
        return rotation_summary(rotation, resumed)


def rotation_summary(rotation: KeyRotation, resumed: bool = False) -> dict:
    return {
        "status": rotation.status, "resumed": resumed,
        "data_version": rotation.data_to, "index_version": rotation.index_to,
        "rows_changed": rotation.rows_changed, "passes": rotation.pass_number,
    }


def key_status(session: Session) -> dict:
    """Versions with their status, and the running rotation if any (no key material)."""
    keys = session.scalars(select(KeyVersion).order_by(KeyVersion.purpose, KeyVersion.version))
    running = running_rotation(session)
    return {
        "keys": [{"purpose": k.purpose, "version": k.version, "status": k.status} for k in keys],
        "rotation": rotation_summary(running) | {"table": running.table_name}
        if running else None,
    }

