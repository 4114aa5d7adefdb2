"""Hashes and checks passwords with Argon2id (argon2-cffi), a few at a time, and refuses guessable new ones (zxcvbn)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from flask_babel import lazy_gettext
from werkzeug.exceptions import ServiceUnavailable
from zxcvbn import zxcvbn

from telematics.errors import BadInput
from telematics.settings import Settings

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


class HashingBusy(ServiceUnavailable):
    """Every hashing slot of this process is taken and as many sign-ins already wait: 503 with Retry-After."""

    description = lazy_gettext("Too many sign-ins are being checked at once. Wait a few seconds and try again.")

    @property
    def name(self) -> str:
        """The error page's title: what is busy, rather than the stock "Service Unavailable"."""
        return lazy_gettext("Sign-in busy")  # type: ignore[return-value]  # rendered as text where shown


class HashGate:
    """At most ``slots`` password hashes at once in this process, and at most ``slots`` more callers waiting up to
    ``wait_s`` for one; anyone else is turned away at once with HashingBusy.

    A waiting sign-in holds a server thread as surely as a hashing one, so the waiters are bounded too: a flood of
    sign-ins (many people at a shift change, or someone guessing passwords) occupies at most ``2 * slots`` of the
    site's threads, and the other pages are served meanwhile.
    """

    def __init__(self, slots: int, wait_s: float) -> None:
        if slots < 1:
            raise ValueError(f"slots: got {slots}, expected at least 1")
        self.slots = slots
        self.wait_s = max(0.0, wait_s)
        self.busy = 0
        self.waiting = 0
        self.refused = 0
        """Sign-ins turned away since the start, for the log and tests."""
        self._changed = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._changed:
            if self.busy >= self.slots:
                if self.waiting >= self.slots:
                    self._refuse()
                self.waiting += 1
                try:
                    free = self._changed.wait_for(lambda: self.busy < self.slots, timeout=self.wait_s)
                finally:
                    self.waiting -= 1
                if not free:
                    self._refuse()
            self.busy += 1
        try:
            yield
        finally:
            with self._changed:
                self.busy -= 1
                self._changed.notify()

    def _refuse(self) -> None:
        self.refused += 1
        raise HashingBusy(retry_after=max(1, math.ceil(self.wait_s)))


_GATE_KEY = "truckguard.password_hash_gate"
_GATE_LOCK = threading.Lock()
_PROCESS_GATE = HashGate(Settings.password_hash_slots, Settings.password_hash_wait_s)
"""Outside the site (the command line creating an account) the defaults apply."""


def gate() -> HashGate:
    """The site's gate, built once per app from its settings; the process default outside an app."""
    if not has_app_context():
        return _PROCESS_GATE
    extensions = current_app.extensions
    found = extensions.get(_GATE_KEY)
    if found is None:
        with _GATE_LOCK:
            found = extensions.get(_GATE_KEY)
            if found is None:
                settings = extensions.get("truckguard.settings") or Settings()
                found = extensions[_GATE_KEY] = HashGate(settings.password_hash_slots, settings.password_hash_wait_s)
    return found


def hash_password(password: str) -> str:
    with gate().slot():
        return HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        with gate().slot():
            return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)


# A hash to verify against when the account does not exist, so a wrong name costs as long as a wrong password.
_DUMMY: list[str] = []


def dummy_verify(password: str) -> None:
    if not _DUMMY:
        _DUMMY.append(hash_password("truckguard-no-such-user"))
    verify_password(_DUMMY[0], password)
