"""C2SP verifier keys and `cosignature/v1` witness cosignatures, as pure functions.

A verifier key (signed-note "vkey") is ``<name>+<hex key id>+<base64(type || public key)>``:
type 0x01 for a log's Ed25519 note key, 0x04 for an Ed25519 cosigner (tlog-cosignature).
A cosignature is a note signature line whose blob is ``key id (4) || timestamp (8, big
endian) || Ed25519 signature (64)`` over ``cosignature/v1\\ntime <t>\\n`` and the checkpoint
body. Nothing here touches a database, a clock or the network: callers pass the time in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from custody.ledger.checkpoint import (
    KEY_HASH_SIZE,
    SIGNATURE_LINE_PREFIX,
    CheckpointFormatError,
    SignatureError,
    is_key_name,
    split_note,
)

__all__ = [
    "COSIGNATURE_TYPE",
    "NOTE_KEY_TYPE",
    "Cosignature",
    "VerifierKey",
    "cosign",
    "cosignature_line",
    "cosigned_message",
    "find_cosignatures",
    "parse_verifier_key",
    "verifier_key",
    "with_cosignatures",
]

NOTE_KEY_TYPE = 0x01  # Ed25519 signed-note key (the log's own)
COSIGNATURE_TYPE = 0x04  # Ed25519 cosignature/v1 key (a witness's)
COSIGNATURE_HEADER = b"cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1
_HEX8 = re.compile(r"[0-9a-f]{8}")


def key_hash(name: str, key_type: int, public_key_raw: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4], the signed-note key id."""
    if not is_key_name(name):
        raise ValueError(f"key name {name!r} is empty or has spaces or '+'")
    if len(public_key_raw) != 32:
        raise ValueError("an Ed25519 public key is 32 raw bytes")
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([key_type]) + bytes(public_key_raw)).digest()[
        :KEY_HASH_SIZE
    ]


@dataclass(frozen=True)
class VerifierKey:
    """A parsed vkey: who, which algorithm byte, and the raw Ed25519 public key."""

    name: str
    key_type: int
    public_key_raw: bytes

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.key_type, self.public_key_raw)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key_raw)

    def __str__(self) -> str:
        return verifier_key(self.name, self.public_key_raw, self.key_type)


def verifier_key(name: str, public_key_raw: bytes, key_type: int = NOTE_KEY_TYPE) -> str:
    """The vkey string standard note tools (sumdb, transparency-dev) read."""
    material = base64.b64encode(bytes([key_type]) + bytes(public_key_raw)).decode("ascii")
    return f"{name}+{key_hash(name, key_type, public_key_raw).hex()}+{material}"


def parse_verifier_key(text: str, *, key_type: int | None = None) -> VerifierKey:
    """Parse and check a vkey: the stated key id must match the name and key it names."""
    parts = text.strip().split("+", 2)  # the base64 key material may itself hold a "+"
    if len(parts) != 3:
        raise ValueError("a verifier key is <name>+<key id>+<base64 key>")
    name, hash_hex, material_b64 = parts
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the verifier key's name is not valid UTF-8") from None
    if not is_key_name(name) or not _HEX8.fullmatch(hash_hex):
        raise ValueError("a verifier key needs a key name and an 8-hex-digit key id")
    try:
        material = base64.b64decode(material_b64.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError("the verifier key's key material is not base64") from exc
    if len(material) != 33 or material[0] not in (NOTE_KEY_TYPE, COSIGNATURE_TYPE):
        raise ValueError("only Ed25519 verifier keys (type 0x01 or 0x04, 32-byte key) are supported")
    if key_type is not None and material[0] != key_type:
        raise ValueError(f"the verifier key has type 0x{material[0]:02x}, expected 0x{key_type:02x}")
    parsed = VerifierKey(name, material[0], material[1:])
    if parsed.key_hash.hex() != hash_hex:
        raise ValueError("the verifier key's key id does not match its name and key")
    return parsed


def cosigned_message(checkpoint_body: bytes, timestamp: int) -> bytes:
    """What an Ed25519 cosignature/v1 signs: header, time line, the whole checkpoint body."""
    if not isinstance(timestamp, int) or not 0 < timestamp <= MAX_TIMESTAMP:
        raise ValueError("a cosignature timestamp is a positive POSIX time below 2^63")
    return COSIGNATURE_HEADER + f"time {timestamp}\n".encode("ascii") + bytes(checkpoint_body)


@dataclass(frozen=True)
class Cosignature:
    """One verified witness cosignature on one checkpoint body."""

    name: str
    timestamp: int
    signature: bytes
    key_hash: bytes

    def line(self) -> str:
        blob = self.key_hash + self.timestamp.to_bytes(8, "big") + self.signature
        return f"{SIGNATURE_LINE_PREFIX}{self.name} {base64.b64encode(blob).decode('ascii')}\n"


def cosign(private_key: Ed25519PrivateKey, name: str, checkpoint_body: bytes, timestamp: int) -> Cosignature:
    """A witness's cosignature over the checkpoint body at POSIX time `timestamp`."""
    raw = private_key.public_key().public_bytes_raw()
    signature = private_key.sign(cosigned_message(checkpoint_body, timestamp))
    return Cosignature(name, timestamp, signature, key_hash(name, COSIGNATURE_TYPE, raw))


def cosignature_line(private_key: Ed25519PrivateKey, name: str, checkpoint_body: bytes, timestamp: int) -> str:
    return cosign(private_key, name, checkpoint_body, timestamp).line()


def _verify_blob(witness: VerifierKey, text: bytes, blob: bytes) -> Cosignature:
    if len(blob) != KEY_HASH_SIZE + 8 + 64:
        raise SignatureError(f"cosignature by {witness.name!r} is not 76 bytes", code="cosignature_malformed")
    timestamp = int.from_bytes(blob[KEY_HASH_SIZE:KEY_HASH_SIZE + 8], "big")
    signature = blob[KEY_HASH_SIZE + 8:]
    try:
        witness.public_key.verify(signature, cosigned_message(text, timestamp))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError(f"cosignature by {witness.name!r} does not verify",
                             code="cosignature_invalid") from exc
    return Cosignature(witness.name, timestamp, signature, blob[:KEY_HASH_SIZE])


def find_cosignatures(note: bytes, witnesses: list[VerifierKey]) -> tuple[bytes, dict[str, Cosignature], list]:
    """Verify the note's cosignatures by the given witnesses.

    Returns (note text, verified cosignatures by witness name, [(name, error)] for lines that
    match a known witness's name and key id but fail to verify). Lines by unknown keys are
    ignored, as the signed-note spec asks.
    """
    text, signatures = split_note(note)
    by_id = {(w.name, w.key_hash): w for w in witnesses if w.key_type == COSIGNATURE_TYPE}
    found: dict[str, Cosignature] = {}
    errors: list[tuple[str, SignatureError]] = []
    for name, blob in signatures:
        witness = by_id.get((name, blob[:KEY_HASH_SIZE]))
        if witness is None:
            continue
        try:
            cosignature = _verify_blob(witness, text, blob)
        except SignatureError as error:
            errors.append((name, error))
            continue
        if name in found:
            raise CheckpointFormatError(f"note carries witness {name!r} more than once", code="note_malformed")
        found[name] = cosignature
    return text, found, errors


def with_cosignatures(note: bytes, lines: list[str]) -> bytes:
    """The signed note with extra signature lines appended (each ends in a newline)."""
    split_note(note)
    return bytes(note) + "".join(lines).encode("utf-8")
