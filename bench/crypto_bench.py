"""Envelope encryption of ~300-byte records vs bare AES-GCM (the unavoidable cost)."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.timing import median_seconds
from core.crypto import DataKey, KeyRing

RECORDS = 50_000


def run() -> dict:
    key = AESGCM.generate_key(256)
    ring = KeyRing(os.urandom(32), [DataKey(1, "data", key), DataKey(1, "index", os.urandom(32))])
    record = {"first_name": "Alice", "last_name": "Example", "email": "a@example.org",
              "birth_date": "1980-01-01", "address": "1 Main St", "city": "Omaha",
              "state": "Nebraska", "zip": "68102", "traits": {"smoking_status": "never"}}
    payload = str(record).encode()
    aead = AESGCM(key)

    def baseline():
        for i in range(RECORDS):
            aead.encrypt(os.urandom(12), payload, b"patients.profile_enc.%d" % i)

    def envelope():
        for i in range(RECORDS):
            ring.encrypt_json(record, "patients", "profile_enc", str(i))

    base, ours = median_seconds(baseline), median_seconds(envelope)
    return {
        "name": "encrypt_record",
        "records": RECORDS,
        "baseline_per_second": round(RECORDS / base),
        "sendwell_per_second": round(RECORDS / ours),
        "ratio_to_baseline": round(ours / base, 2),
    }
