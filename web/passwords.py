"""Hashes and checks passwords with Argon2id (argon2-cffi), and refuses guessable new ones (zxcvbn)."""

from __future__ import annotations

from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from telematics.errors import BadInput

HASHER = PasswordHasher()
"""Argon2id with the library's recommended cost; tests swap in a cheaper one."""

MIN_LENGTH = 12
"""NIST SP 800-63B asks for at least 8 characters of a user-chosen secret; accounts here can authorise stopping
a vehicle, so more."""
MAX_LENGTH = 256
"""Enough for any passphrase; bounds the cost of hashing and of estimating strength."""
MIN_SCORE = 3
"""zxcvbn's score 3 of 4: 'safely unguessable', about 10^10 guesses; it refuses common passwords, names,
repetitions, keyboard patterns and the username, which SP 800-63B says to check against."""


class WeakPassword(BadInput):
    """A new password too short, too long or too easy to guess; the message says why."""


def check_strength(password: str, user_inputs: Iterable[str] = ()) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password: {len(password)} characters, expected at least {MIN_LENGTH}")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"password: {len(password)} characters, expected at most {MAX_LENGTH}")
    estimate = zxcvbn(password, user_inputs=[u for u in user_inputs if u])
    if estimate["score"] < MIN_SCORE:
        feedback = estimate["feedback"]
        hint = feedback.get("warning") or " ".join(feedback.get("suggestions") or []) or "it is easy to guess"
        raise WeakPassword(f"password: too easy to guess ({hint.rstrip('.')}); try a few uncommon words")


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)


# A hash to verify against when the account does not exist, so a wrong name costs as long as a wrong password.
_DUMMY: list[str] = []


def dummy_verify(password: str) -> None:
    if not _DUMMY:
        _DUMMY.append(HASHER.hash("truckguard-no-such-user"))
    verify_password(_DUMMY[0], password)
