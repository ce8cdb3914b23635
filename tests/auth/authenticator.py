"""A software WebAuthn authenticator (EC P-256, "none" attestation) for the test suite.

It builds the same JSON a browser posts after `navigator.credentials.create()` / `.get()`,
with knobs to break one thing at a time: origin, RP id, the user-verified flag, the
signature counter and the user handle.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_AT = 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    """One passkey held in memory, answering registration and sign-in requests."""

    def __init__(self, origin: str = "http://localhost:5000", rp_id: str = "localhost"):
        self.origin = origin
        self.rp_id = rp_id
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0
        self.user_handle: bytes | None = None

    def create(self, options: dict, *, origin: str | None = None, rp_id: str | None = None,
               uv: bool = True) -> dict:
        """The attestation response to registration `options` (as sent by the server)."""
        self.user_handle = unb64url(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        flags = FLAG_UP | FLAG_AT | (FLAG_UV if uv else 0)
        auth_data = self._auth_data(rp_id, flags, self.sign_count) + self._attested_data()
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return self._credential({
            "clientDataJSON": b64url(client_data),
            "attestationObject": b64url(attestation),
            "transports": ["internal"],
        })

    def get(self, options: dict, *, origin: str | None = None, rp_id: str | None = None,
            uv: bool = True, sign_count: int | None = None,
            user_handle: bytes | None = None) -> dict:
        """The assertion response to sign-in `options`; the counter advances by one."""
        self.sign_count = self.sign_count + 1 if sign_count is None else sign_count
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._auth_data(rp_id, FLAG_UP | (FLAG_UV if uv else 0), self.sign_count)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        handle = user_handle if user_handle is not None else self.user_handle
        return self._credential({
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
            "userHandle": b64url(handle) if handle is not None else None,
        })

    def _credential(self, response: dict) -> dict:
        return {
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
            "type": "public-key", "response": response, "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        body = {"type": kind, "challenge": challenge, "origin": origin or self.origin,
                "crossOrigin": False}
        return json.dumps(body, separators=(",", ":")).encode()

    def _auth_data(self, rp_id: str | None, flags: int, counter: int) -> bytes:
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        return rp_hash + struct.pack(">BI", flags, counter)

    def _attested_data(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        cose_key = cbor2.dumps({
            1: 2, 3: -7, -1: 1,
            -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big"),
        })
        aaguid = bytes(16)
        cred = self.credential_id
        return aaguid + struct.pack(">H", len(cred)) + cred + cose_key
