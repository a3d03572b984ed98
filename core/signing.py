"""Ed25519 keys: parsing public keys sent by devices, and key ids."""
from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import crypto_core_ed25519_is_valid_point

from core.errors import ValidationFailed


def key_id(raw_public_key: bytes) -> str:
    """Hex SHA-256 of the raw 32-byte public key (the ledger's key id convention)."""
    return hashlib.sha256(raw_public_key).hexdigest()


def parse_ed25519_public_key(b64: str, field: str = "public_key") -> Ed25519PublicKey:
    """Base64 of exactly 32 raw bytes that decode to a valid Ed25519 point."""
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("public key is not base64", {field: ["not valid base64"]}) from None
    if len(raw) != 32:
        raise ValidationFailed("public key has the wrong length", {field: [f"expected 32 raw bytes, got {len(raw)}"]})
    # cryptography accepts any 32 bytes; libsodium checks the point is on the curve,
    # in the main subgroup and not of small order (a key nobody could sign with).
    if not crypto_core_ed25519_is_valid_point(raw):
        raise ValidationFailed("public key is not an Ed25519 key", {field: ["not a valid Ed25519 public key"]})
    return Ed25519PublicKey.from_public_bytes(raw)
