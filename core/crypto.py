"""Token encryption at rest: MultiFernet, first key encrypts, every key decrypts.

A wrong key raises (cryptography's InvalidToken) instead of handing ciphertext to Spotify.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

__all__ = ["EncryptedTextField", "InvalidToken", "decrypt", "encrypt", "fernet", "rotate"]


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise RuntimeError("TOKEN_ENCRYPTION_KEYS is empty: tokens cannot be stored")
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.TOKEN_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    return fernet().decrypt(ciphertext.encode()).decode()


def rotate(ciphertext: str) -> str:
    """Re-encrypt under the first (newest) key."""
    return fernet().rotate(ciphertext.encode()).decode()


class EncryptedTextField(models.TextField):
    """Stores Fernet ciphertext; Python code only ever sees the plaintext."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
