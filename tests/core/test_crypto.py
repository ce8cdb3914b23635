import pytest

from core.crypto import DecryptionError, key_ring


def test_ciphertext_round_trips_for_its_own_row(app):
    with app.app_context():
        ring = key_ring()
        blob = ring.encrypt_json({"name": "Alice"}, "patients", "profile_enc", "row1")
        assert b"Alice" not in blob
        assert ring.decrypt_json(blob, "patients", "profile_enc", "row1") == {"name": "Alice"}


def test_ciphertext_copied_to_another_row_fails(app):
    with app.app_context():
        ring = key_ring()
        blob = ring.encrypt_json({"name": "Alice"}, "patients", "profile_enc", "row1")
        with pytest.raises(DecryptionError):
            ring.decrypt_json(blob, "patients", "profile_enc", "row2")
        with pytest.raises(DecryptionError):
            ring.decrypt_json(blob, "patients", "facets_enc", "row1")


def test_blind_index_is_stable_and_domain_separated(app):
    with app.app_context():
        ring = key_ring()
        assert ring.blind_index("email", "a@example.org") == ring.blind_index(
            "email", "a@example.org"
        )
        assert ring.blind_index("email", "a@example.org") != ring.blind_index(
            "cdp_id", "a@example.org"
        )
