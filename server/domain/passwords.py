"""Password hashing with Argon2id (argon2-cffi's defaults)."""

from __future__ import annotations

import contextlib
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.domain.errors import Invalid

MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()


def _check(plain: str) -> None:
    if not plain:
        raise Invalid("The password must not be empty")
    if len(plain) > MAX_PASSWORD_LENGTH:
        raise Invalid(f"The password must be at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(plain: str) -> str:
    _check(plain)
    return _hasher.hash(plain)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("not a real password")


def verify_password(hashed: str, plain: str) -> bool:
    """True only when `plain` matches `hashed`; never raises.

    With an empty or unreadable hash (a user without a password, or an unknown user: pass "")
    it still spends the time of one verification, so response times do not reveal which
    accounts exist.
    """
    if not plain or len(plain) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(hashed, plain)
    except VerificationError:  # wrong password (VerifyMismatchError) or a corrupt hash
        return False
    except (InvalidHashError, TypeError, ValueError):
        # No usable hash: burn comparable time, then refuse.
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash(), plain)
        return False


def needs_rehash(hashed: str) -> bool:
    """True when `hashed` was made with weaker parameters than today's (or is unreadable)."""
    try:
        return _hasher.check_needs_rehash(hashed)
    except (InvalidHashError, TypeError, ValueError):
        return True
