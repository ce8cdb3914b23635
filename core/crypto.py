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
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ConfigError, SendwellError

MAGIC = b"SW1"
HEADER = struct.Struct(">3sH")
NONCE_BYTES = 12


class DecryptionError(SendwellError):
    """A ciphertext that is not ours, was tampered with, or belongs to another row."""


def load_master_key(config) -> bytes:
    """The master key: `MASTER_KEY` (base64) or the key file, generated once if absent."""
    if config.get("MASTER_KEY"):
        return _decode_key(config["MASTER_KEY"], "SENDWELL_MASTER_KEY")
    path = Path(config["MASTER_KEY_FILE"])
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.urlsafe_b64encode(AESGCM.generate_key(256)).decode())
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


class KeyRing:
    """Data keys unwrapped in memory; encrypts with the newest, decrypts with any."""

    def __init__(self, master_key: bytes, keys: list[DataKey]):
        self._by_version = {k.version: k for k in keys}
        self._aead = {k.version: AESGCM(k.key) for k in keys if k.purpose == "data"}
        data = [k for k in keys if k.purpose == "data"]
        index = [k for k in keys if k.purpose == "index"]
        if not data or not index:
            raise ConfigError("key ring has no data or index key; run migrations first")
        self._current = max(data, key=lambda k: k.version)
        self._index = max(index, key=lambda k: k.version)

    @staticmethod
    def aad(table: str, column: str, row_id: str) -> bytes:
        return f"{table}.{column}.{row_id}".encode()

    def encrypt(self, plaintext: bytes, table: str, column: str, row_id: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        body = self._aead[self._current.version].encrypt(
            nonce, plaintext, self.aad(table, column, row_id)
        )
        return HEADER.pack(MAGIC, self._current.version) + nonce + body

    def decrypt(self, blob: bytes, table: str, column: str, row_id: str) -> bytes:
        magic, version = HEADER.unpack_from(blob)
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
        mac = hmac.new(self._index.key, f"{domain}\x00{value}".encode(), hashlib.sha256)
        return mac.hexdigest()


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


def load_key_ring(session: Session, master_key: bytes) -> KeyRing:
    from core.models import KeyVersion

    keys = [
        DataKey(k.version, k.purpose, unwrap_key(master_key, k.wrapped_key, k.purpose, k.version))
        for k in session.scalars(select(KeyVersion))
    ]
    return KeyRing(master_key, keys)


def key_ring() -> KeyRing:
    """The app's key ring, loaded (and first keys created) on first use."""
    ring = current_app.extensions.get("sendwell.keyring")
    if ring is None:
        from core.db import new_session

        master = load_master_key(current_app.config)
        with new_session() as session:
            ensure_data_keys(session, master)
            session.commit()
            ring = load_key_ring(session, master)
        current_app.extensions["sendwell.keyring"] = ring
    return ring


def init_app(app: Flask) -> None:
    app.extensions.pop("sendwell.keyring", None)
