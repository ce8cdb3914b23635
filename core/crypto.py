"""Field-level encryption: key ring, AEAD envelopes bound to their row, blind indexes.

Model after CipherSweet: a master key from the environment or a key file (never from the
database) wraps random data keys stored in `key_versions`. A ciphertext is
`b"SW1" | key version (2 bytes) | nonce (12) | AES-256-GCM(ciphertext+tag)`, with the
associated data `table.column.row_id`, so a value copied to another row fails to decrypt.
Equality lookups use HMAC-SHA256 blind indexes under their own key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ConfigError, SendwellError
from core.files import create_once

MAGIC = b"SW1"
HEADER = struct.Struct(">3sH")
NONCE_BYTES = 12
REFRESH_SECONDS = 60


class DecryptionError(SendwellError):
    """A ciphertext that is not ours, was tampered with, or belongs to another row."""


def load_master_key(config) -> bytes:
    """The master key: `MASTER_KEY` (base64) or the key file, generated once if absent."""
    if config.get("MASTER_KEY"):
        return _decode_key(config["MASTER_KEY"], "SENDWELL_MASTER_KEY")
    path = Path(config["MASTER_KEY_FILE"])
    if not path.exists():  # several processes may start at once: one creates it
        create_once(path, base64.urlsafe_b64encode(AESGCM.generate_key(256)))
    return read_key_file(path)


def write_key_file(path: Path, key: bytes) -> None:
    """Create a key file readable by its owner only; never overwrites one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.urlsafe_b64encode(key).decode())
        fh.flush()
        os.fsync(fh.fileno())


def read_key_file(path: Path) -> bytes:
    return _decode_key(path.read_text().strip(), str(path))


def _decode_key(text: str, origin: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text)
    except ValueError as exc:
        raise ConfigError(f"{origin}: master key is not base64") from exc
    if len(key) != 32:
        raise ConfigError(f"{origin}: master key must be 32 bytes")
    return key


@dataclass(frozen=True)
class DataKey:
    version: int
    purpose: str
    key: bytes
    status: str = "active"  # active | retired (see core.keys)


def ciphertext_version(blob: bytes) -> int:
    """The data-key version named in a ciphertext's header."""
    magic, version = HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise DecryptionError("not a Sendwell ciphertext")
    return version


class KeyRing:
    """Data keys unwrapped in memory; encrypts with the newest, decrypts with any.

    Blind indexes are chained: the index under versions 1..n is
    HMAC(k_n, … HMAC(k_1, domain NUL value)), so a rotation can recompute every stored
    index from the stored value alone (suppressions and message ids keep no plaintext).
    A ring with a `loader` reloads its keys when it meets an unknown version and, for
    writes, once it is older than `REFRESH_SECONDS`, so long-running processes follow a
    rotation made by another process.
    """

    def __init__(self, master_key: bytes, keys: list[DataKey], loader=None):
        self._loader = loader
        self._install(keys)

    def _install(self, keys: list[DataKey]) -> None:
        data = [k for k in keys if k.purpose == "data"]
        index = sorted((k for k in keys if k.purpose == "index"), key=lambda k: k.version)
        active = [k for k in data if k.status != "retired"] or data
        if not data or not index:
            raise ConfigError("key ring has no data or index key; run migrations first")
        self._aead = {k.version: AESGCM(k.key) for k in data}
        self._current = max(active, key=lambda k: k.version)
        self._chain = index
        self._lookup_versions = [k.version for k in index if k.status != "retired"]
        self._loaded_at = time.monotonic()

    def refresh(self) -> bool:
        """Reload the keys from the database (when this ring has a loader)."""
        if self._loader is None:
            return False
        self._install(self._loader())
        return True

    def _fresh(self) -> None:
        if self._loader and time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            self.refresh()

    @property
    def data_version(self) -> int:
        """The version new ciphertexts are written under."""
        self._fresh()
        return self._current.version

    @property
    def index_version(self) -> int:
        """The newest blind-index key version (the outermost layer of the chain)."""
        self._fresh()
        return self._chain[-1].version

    @staticmethod
    def aad(table: str, column: str, row_id: str) -> bytes:
        return f"{table}.{column}.{row_id}".encode()

    def encrypt(self, plaintext: bytes, table: str, column: str, row_id: str) -> bytes:
        version = self.data_version
        nonce = os.urandom(NONCE_BYTES)
        body = self._aead[version].encrypt(nonce, plaintext, self.aad(table, column, row_id))
        return HEADER.pack(MAGIC, version) + nonce + body

    def decrypt(self, blob: bytes, table: str, column: str, row_id: str) -> bytes:
        magic, version = HEADER.unpack_from(blob)
        if magic == MAGIC and version not in self._aead:
            self.refresh()
        if magic != MAGIC or version not in self._aead:
            raise DecryptionError(f"{table}.{column}: unknown ciphertext format or key")
        nonce = blob[HEADER.size : HEADER.size + NONCE_BYTES]
        try:
            return self._aead[version].decrypt(
                nonce, blob[HEADER.size + NONCE_BYTES :], self.aad(table, column, row_id)
            )
        except InvalidTag as exc:
            raise DecryptionError(f"{table}.{column}: ciphertext does not verify") from exc

    def encrypt_json(self, value, table: str, column: str, row_id: str) -> bytes:
        data = json.dumps(value, separators=(",", ":"), default=str).encode()
        return self.encrypt(data, table, column, row_id)

    def decrypt_json(self, blob: bytes, table: str, column: str, row_id: str):
        return json.loads(self.decrypt(blob, table, column, row_id))

    def blind_index(self, domain: str, value: str) -> str:
        """HMAC-SHA256 of a normalised value, separated per domain (email, cdp_id, …)."""
        self._fresh()
        return self._index_up_to(domain, value, self._chain[-1].version)

    def blind_indexes(self, domain: str, value: str) -> list[str]:
        """Every index a stored row may carry now: one, or two while `rotate-data` runs
        (newest first). Lookups that must not miss during a rotation use `IN` on these."""
        self._fresh()
        return [self._index_up_to(domain, value, v) for v in reversed(self._lookup_versions)]

    def _index_up_to(self, domain: str, value: str, version: int) -> str:
        digest = f"{domain}\x00{value}".encode()
        for key in self._chain:
            if key.version > version:
                break
            digest = hmac.new(key.key, digest, hashlib.sha256).hexdigest().encode()
        return digest.decode()

    def reindex(self, stored: str, from_version: int) -> str:
        """Lift a blind index computed up to `from_version` to the newest version."""
        digest = stored.encode()
        for key in self._chain:
            if key.version > from_version:
                digest = hmac.new(key.key, digest, hashlib.sha256).hexdigest().encode()
        return digest.decode()


def wrap_key(master_key: bytes, key: bytes, purpose: str, version: int) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master_key).encrypt(nonce, key, f"key.{purpose}.{version}".encode())


def unwrap_key(master_key: bytes, wrapped: bytes, purpose: str, version: int) -> bytes:
    try:
        return AESGCM(master_key).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], f"key.{purpose}.{version}".encode()
        )
    except InvalidTag as exc:
        raise ConfigError(
            "the master key does not open this database's data keys "
            "(wrong SENDWELL_MASTER_KEY or key file?)"
        ) from exc


def ensure_data_keys(session: Session, master_key: bytes) -> None:
    """Create the first data and index keys if the database has none."""
    from core.models import KeyVersion

    existing = {k.purpose for k in session.scalars(select(KeyVersion))}
    for purpose in ("data", "index"):
        if purpose not in existing:
            session.add(
                KeyVersion(
                    purpose=purpose,
                    version=1,
                    wrapped_key=wrap_key(master_key, AESGCM.generate_key(256), purpose, 1),
                )
            )
    session.flush()


def load_data_keys(session: Session, master_key: bytes) -> list[DataKey]:
    """Every stored key, unwrapped with the master key (a wrong master key stops here)."""
    from core.models import KeyVersion

    return [
        DataKey(k.version, k.purpose,
                unwrap_key(master_key, k.wrapped_key, k.purpose, k.version), k.status)
        for k in session.scalars(select(KeyVersion))
    ]


def load_key_ring(session: Session, master_key: bytes, loader=None) -> KeyRing:
    return KeyRing(master_key, load_data_keys(session, master_key), loader)


def _loader(sessionmaker, master_key: bytes):
    def load() -> list[DataKey]:
        with sessionmaker() as session:
            return load_data_keys(session, master_key)
    return load


def key_ring() -> KeyRing:
    """The app's key ring, loaded (and first keys created) on first use."""
    ring = current_app.extensions.get("sendwell.keyring")
    if ring is None:
        from core.db import new_session

        master = load_master_key(current_app.config)
        with new_session() as session:
            ensure_data_keys(session, master)
            session.commit()
            loader = _loader(current_app.extensions["sendwell.sessionmaker"], master)
            ring = load_key_ring(session, master, loader)
        current_app.extensions["sendwell.keyring"] = ring
    return ring


def forget_key_ring(app: Flask) -> None:
    """Drop the app's cached ring (after a key change); the next use loads it again."""
    app.extensions.pop("sendwell.keyring", None)


def init_app(app: Flask) -> None:
    app.extensions.pop("sendwell.keyring", None)
