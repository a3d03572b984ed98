"""Personal data at rest: AES-GCM field encryption and the masks used on every output."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import ConfigurationError

_VERSION = "v1"


class FieldCipher:
    """Encrypts one column value; the column name is bound in as associated data so a
    ciphertext copied into another column (or row kind) does not decrypt."""

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ConfigurationError("field encryption key must be 32 bytes")
        self._aead = AESGCM(key)
        self._index_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"fieldproof",
                               info=b"blind-index v1").derive(key)

    @classmethod
    def from_secret(cls, secret: str) -> FieldCipher:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"fieldproof", info=b"pii-at-rest v1").derive(
            secret.encode()
        )
        return cls(key)

    def encrypt(self, plaintext: str, column: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), column.encode())
        return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def blind_index(self, value: str, column: str) -> str:
        """A keyed hash (HMAC-SHA256) of ``value`` for ``column``: equal values match, so a person
        can be recognised again (e.g. a third party's number), while the value is not kept and
        cannot be guessed back without the key."""
        mac = hmac.new(self._index_key, column.encode() + b"\0" + value.encode(), hashlib.sha256)
        return mac.hexdigest()

    def decrypt(self, token: str, column: str) -> str:
        version, _, body = token.partition(":")
        if version != _VERSION:
            raise ValueError("unknown ciphertext version")
        raw = base64.b64decode(body)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], column.encode()).decode()
        except InvalidTag:
            raise ValueError("ciphertext does not authenticate") from None


def mask_tail(value: str | None, visible: int = 4) -> str | None:
    """Keep the last `visible` characters (FRCP 5.2: last four digits), star the rest."""
    if value is None:
        return None
    tail = value[-visible:] if len(value) > visible else ""
    return "*" * (len(value) - len(tail)) + tail
