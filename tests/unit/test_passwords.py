"""Passwords are stored as Argon2 hashes and checked without ever raising on a wrong guess."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from server.domain.errors import Invalid
from server.domain.passwords import hash_password, needs_rehash, verify_password


@pytest.fixture(scope="module")
def hashed() -> str:
    return hash_password("correct horse battery staple")


def test_the_right_password_logs_in(hashed: str) -> None:
    assert verify_password(hashed, "correct horse battery staple")


def test_a_wrong_password_is_refused(hashed: str) -> None:
    assert not verify_password(hashed, "Correct horse battery staple")
    assert not verify_password(hashed, "")


def test_the_stored_hash_does_not_contain_the_password(hashed: str) -> None:
    assert hashed.startswith("$argon2id$")
    assert "horse" not in hashed


def test_hashing_the_same_password_twice_gives_different_hashes() -> None:
    assert hash_password("s3cret!") != hash_password("s3cret!")


def test_unicode_passwords_work() -> None:
    assert verify_password(hash_password("pässwörd ключ 🔑"), "pässwörd ключ 🔑")


@pytest.mark.parametrize("stored", ["", "not a hash", "$2b$12$abcdefghijklmnopqrstuv"])
def test_a_user_without_a_usable_hash_cannot_log_in(stored: str) -> None:
    assert not verify_password(stored, "anything")


def test_empty_password_is_rejected() -> None:
    with pytest.raises(Invalid, match="must not be empty"):
        hash_password("")


def test_overlong_password_is_rejected_but_1024_characters_is_fine(hashed: str) -> None:
    with pytest.raises(Invalid, match="at most 1024"):
        hash_password("x" * 1025)
    assert verify_password(hash_password("x" * 1024), "x" * 1024)
    assert not verify_password(hashed, "x" * 5000)


def test_fresh_hash_needs_no_rehash(hashed: str) -> None:
    assert not needs_rehash(hashed)


def test_hash_made_with_weaker_settings_needs_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("pw")
    assert verify_password(weak, "pw")
    assert needs_rehash(weak)


def test_unreadable_hash_needs_rehash() -> None:
    assert needs_rehash("")
