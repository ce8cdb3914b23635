"""Passkey registration, sign-in and step-up ceremonies (the only module importing `webauthn`).

User verification is required in every ceremony, resident keys are preferred, and the
relying party's id, origin and name come from settings, never from the request. Each
ceremony consumes a server-side challenge; sign counters are kept and a counter that goes
backwards (a cloned authenticator) is refused and audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from auth.challenges import AUTHENTICATE, REGISTER, STEP_UP, consume_challenge, issue_challenge
from auth.errors import AuthRefused
from auth.models import Passkey, User
from core import audit
from core.clock import utcnow
from core.db import new_id

TIMEOUT_MS = 120_000
NOT_VERIFIED = "The passkey could not be verified."


@dataclass(frozen=True)
class RelyingParty:
    id: str
    origin: str
    name: str

    @classmethod
    def from_config(cls, config: Mapping) -> RelyingParty:
        return cls(id=config["RP_ID"], origin=config["RP_ORIGIN"], name=config["RP_NAME"])


def user_handle(user: User) -> bytes:
    """The WebAuthn user handle: the user's random internal id, never the email."""
    return user.id.encode()


def registration_options(session: Session, user: User, rp: RelyingParty) -> tuple[str, str]:
    """(challenge id, options JSON) for registering a new passkey of `user`."""
    challenge = issue_challenge(session, REGISTER, user.id)
    options = generate_registration_options(
        rp_id=rp.id, rp_name=rp.name, user_id=user_handle(user), user_name=user.email,
        user_display_name=user.email, challenge=challenge.challenge, timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=p.credential_id) for p in _passkeys_of(session, user)
        ],
    )
    return challenge.id, options_to_json(options)


def complete_registration(
    session: Session, user: User, challenge_id: str | None, credential: dict, rp: RelyingParty
) -> Passkey:
    """Verify the authenticator's attestation and store the new passkey."""
    expected = consume_challenge(session, challenge_id, REGISTER, user.id)
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=expected, expected_rp_id=rp.id,
            expected_origin=rp.origin, require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise AuthRefused(NOT_VERIFIED, "registration_invalid", user.email, user.id) from exc
    if _passkey_by_credential(session, verified.credential_id) is not None:
        raise AuthRefused(
            "This passkey is already registered.", "credential_exists", user.email, user.id
        )
    passkey = Passkey(
        id=new_id(), user_id=user.id, credential_id=verified.credential_id,
        public_key=verified.credential_public_key, sign_count=verified.sign_count,
    )
    session.add(passkey)
    session.flush()
    audit.record(session, user.email, "auth.passkey_registered", user.id, passkey=passkey.id)
    return passkey


def authentication_options(session: Session, rp: RelyingParty) -> tuple[str, str]:
    """(challenge id, options JSON) for signing in with a discoverable passkey."""
    challenge = issue_challenge(session, AUTHENTICATE, None)
    options = generate_authentication_options(
        rp_id=rp.id, challenge=challenge.challenge, timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return challenge.id, options_to_json(options)


def complete_authentication(
    session: Session, challenge_id: str | None, credential: dict, rp: RelyingParty
) -> User:
    """Verify an assertion and return its (active) user; the sign counter is updated."""
    expected = consume_challenge(session, challenge_id, AUTHENTICATE, None)
    parsed = _parse_assertion(credential)
    passkey, user = _owner_of(session, parsed)
    _verify_assertion(session, parsed, expected, passkey, user, rp)
    audit.record(session, user.email, "auth.signed_in", user.id, passkey=passkey.id)
    return user


def step_up_options(
    session: Session, user: User, session_id: str, rp: RelyingParty
) -> tuple[str, str]:
    """(challenge id, options JSON) for re-confirming `user` within one server session."""
    challenge = issue_challenge(session, STEP_UP, user.id, session_id)
    options = generate_authentication_options(
        rp_id=rp.id, challenge=challenge.challenge, timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=p.credential_id) for p in _passkeys_of(session, user)
        ],
    )
    return challenge.id, options_to_json(options)


def complete_step_up(
    session: Session, user: User, session_id: str, challenge_id: str | None,
    credential: dict, rp: RelyingParty,
) -> Passkey:
    """Verify a fresh assertion by one of `user`'s own passkeys (a step-up)."""
    expected = consume_challenge(session, challenge_id, STEP_UP, user.id, session_id)
    parsed = _parse_assertion(credential)
    passkey, owner = _owner_of(session, parsed)
    if owner.id != user.id:
        raise AuthRefused(NOT_VERIFIED, "credential_of_another_user", user.email, user.id)
    _verify_assertion(session, parsed, expected, passkey, user, rp)
    audit.record(session, user.email, "auth.stepped_up", user.id, passkey=passkey.id)
    return passkey


def _verify_assertion(
    session: Session, parsed: AuthenticationCredential, expected: bytes, passkey: Passkey,
    user: User, rp: RelyingParty,
) -> None:
    try:
        verified = verify_authentication_response(
            credential=parsed, expected_challenge=expected, expected_rp_id=rp.id,
            expected_origin=rp.origin, credential_public_key=passkey.public_key,
            # the counter is checked below, once the signature is known to be genuine
            credential_current_sign_count=0, require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise AuthRefused(NOT_VERIFIED, "assertion_invalid", user.email, user.id) from exc
    _advance_counter(session, passkey, user, verified.new_sign_count)


def _parse_assertion(credential: dict) -> AuthenticationCredential:
    try:
        return parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise AuthRefused(NOT_VERIFIED, "assertion_malformed") from exc


def _owner_of(session: Session, parsed: AuthenticationCredential) -> tuple[Passkey, User]:
    """The stored passkey and its user; unknown credentials and foreign handles are refused."""
    passkey = _passkey_by_credential(session, parsed.raw_id)
    if passkey is None:
        raise AuthRefused(NOT_VERIFIED, "unknown_credential")
    user = session.get(User, passkey.user_id)
    handle = parsed.response.user_handle
    if handle is not None and handle != user_handle(user):
        raise AuthRefused(NOT_VERIFIED, "user_handle_mismatch", user.email, user.id)
    if not user.active:
        raise AuthRefused("This account is disabled.", "user_inactive", user.email, user.id)
    return passkey, user


def _advance_counter(session: Session, passkey: Passkey, user: User, presented: int) -> None:
    """Store the new counter; a counter that did not increase is refused and audited."""
    stored = passkey.sign_count
    if (presented or stored) and presented <= stored:
        audit.record(
            session, user.email, "auth.counter_regression", user.id,
            passkey=passkey.id, stored=stored, presented=presented,
        )
        raise AuthRefused(NOT_VERIFIED, "counter_regression", user.email, user.id)
    moved = session.execute(
        update(Passkey)
        .where(Passkey.id == passkey.id, Passkey.sign_count == stored)
        .values(sign_count=presented, last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:  # a concurrent sign-in with the same counter value
        raise AuthRefused(NOT_VERIFIED, "counter_race", user.email, user.id)
    session.refresh(passkey)


def _passkeys_of(session: Session, user: User) -> list[Passkey]:
    return list(session.scalars(select(Passkey).where(Passkey.user_id == user.id)))


def _passkey_by_credential(session: Session, credential_id: bytes) -> Passkey | None:
    return session.scalars(select(Passkey).where(Passkey.credential_id == credential_id)).first()
