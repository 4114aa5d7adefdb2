"""Hashes and checks passwords with Argon2id (argon2-cffi)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher()
"""Argon2id with the library's recommended cost; tests swap in a cheaper one."""

MIN_LENGTH = 12


class WeakPassword(ValueError):
    """A new password too short to resist guessing."""


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password: {len(password)} characters, expected at least {MIN_LENGTH}")


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
