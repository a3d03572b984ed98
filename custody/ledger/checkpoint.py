"""Signed tree heads as C2SP tlog-checkpoints and signed notes.

A checkpoint body is three lines, each ending in a newline: the log's origin,
the tree size in decimal, and the base64 root hash; optional extension lines
may follow. The Ed25519 signature covers those exact body bytes, and
``verify_checkpoint_signature`` checks it before it parses a single field, so
no root is trusted on bytes the key did not sign. Parsing is strict and
canonical: a body parses only if ``Checkpoint.body()`` gives back the same
bytes, so one tree head has one byte form.

The same signature also appears in the C2SP signed-note form (body, blank
line, ``— <key name> <base64(4-byte key hash || signature)>``), which tools of
the transparency-dev and sumdb families read directly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from custody.ledger.merkle import HASH_SIZE, VerificationError

__all__ = [
    "ED25519_SIGNATURE_TYPE",
    "KEY_HASH_SIZE",
    "SIGNATURE_LINE_PREFIX",
    "MAX_TREE_SIZE",
    "Checkpoint",
    "CheckpointFormatError",
    "SignatureError",
    "SignedCheckpoint",
    "key_id",
    "note_key_hash",
    "note_signature_line",
    "open_note",
    "parse_signed_note",
    "sign_checkpoint",
    "signed_note",
    "verify_checkpoint_signature",
]

ED25519_SIGNATURE_TYPE = b"\x01"
ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
KEY_HASH_SIZE = 4
MAX_TREE_SIZE = 2**64 - 1
MAX_NOTE_SIGNATURES = 100
SIGNATURE_LINE_PREFIX = "\u2014 "  # an em dash and a space

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class CheckpointFormatError(VerificationError, ValueError):
    """A checkpoint body or signed note is not in its exact canonical form."""

    code = "checkpoint_malformed"


class SignatureError(VerificationError):
    """The Ed25519 signature is missing, malformed or does not verify."""

    code = "signature_invalid"


def _is_key_name(text: str) -> bool:
    """C2SP key names and our origins: non-empty, no spaces, no '+', no controls."""
    return bool(text) and not any(
        char == "+" or char.isspace() or unicodedata.category(char) == "Cc" for char in text
    )


def _has_control(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


@dataclass(frozen=True)
class Checkpoint:
    """An unsigned tree head: which log, how many leaves, and their root."""

    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not _is_key_name(self.origin):
            raise CheckpointFormatError(f"origin {self.origin!r} is empty or has spaces, '+' or controls")
        size = self.tree_size
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_TREE_SIZE:
            raise CheckpointFormatError(f"tree size {size!r} is not an unsigned 64-bit integer")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise CheckpointFormatError(f"root hash must be {HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise CheckpointFormatError("extensions must be a tuple of lines")
        for line in self.extensions:
            if not isinstance(line, str) or not line or _has_control(line):
                raise CheckpointFormatError(f"extension line {line!r} is empty or has control characters")

    @property
    def root_hash_hex(self) -> str:
        return self.root_hash.hex()

    def body(self) -> bytes:
        """The exact bytes that are signed and published."""
        lines = [self.origin, str(self.tree_size), base64.b64encode(self.root_hash).decode("ascii")]
        lines.extend(self.extensions)
        return "".join(line + "\n" for line in lines).encode("utf-8")

    @classmethod
    def parse(cls, body: bytes) -> Checkpoint:
        """Parse exact body bytes, refusing every non-canonical spelling."""
        if not isinstance(body, (bytes, bytearray)):
            raise CheckpointFormatError("checkpoint body must be bytes")
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointFormatError("checkpoint body is not UTF-8") from exc
        if not text.endswith("\n"):
            raise CheckpointFormatError("checkpoint body must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointFormatError("checkpoint body needs origin, tree size and root hash lines")
        origin, size_text, root_text, *extensions = lines
        if not _DECIMAL.fullmatch(size_text):
            raise CheckpointFormatError(f"tree size {size_text!r} is not canonical decimal")
        try:
            root_hash = base64.b64decode(root_text.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error) as exc:
            raise CheckpointFormatError("root hash is not standard base64") from exc
        if len(root_hash) != HASH_SIZE:
            raise CheckpointFormatError(f"root hash is {len(root_hash)} bytes, expected {HASH_SIZE}")
        checkpoint = cls(origin, int(size_text), root_hash, tuple(extensions))
        if checkpoint.body() != bytes(body):
            raise CheckpointFormatError("checkpoint body is not in canonical form")
        return checkpoint


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint with the raw 64-byte Ed25519 signature over its body bytes."""

    checkpoint: Checkpoint
    signature: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.signature, bytes) or len(self.signature) != ED25519_SIGNATURE_SIZE:
            raise SignatureError(f"an Ed25519 signature is {ED25519_SIGNATURE_SIZE} bytes", code="signature_malformed")

    def body(self) -> bytes:
        return self.checkpoint.body()

    @property
    def signature_b64(self) -> str:
        return base64.b64encode(self.signature).decode("ascii")


def _raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes_raw()


def key_id(public_key_raw: bytes) -> str:
    """The API's key id: hex SHA-256 of the raw 32-byte Ed25519 public key."""
    if not isinstance(public_key_raw, (bytes, bytearray)) or len(public_key_raw) != ED25519_PUBLIC_KEY_SIZE:
        raise ValueError(f"an Ed25519 public key is {ED25519_PUBLIC_KEY_SIZE} raw bytes")
    return hashlib.sha256(bytes(public_key_raw)).hexdigest()


def note_key_hash(key_name: str, public_key_raw: bytes) -> bytes:
    """C2SP signed-note key hash for Ed25519: SHA-256(name || "\\n" || 0x01 || key)[:4]."""
    if not _is_key_name(key_name):
        raise ValueError(f"key name {key_name!r} is empty or has spaces or '+'")
    if len(public_key_raw) != ED25519_PUBLIC_KEY_SIZE:
        raise ValueError(f"an Ed25519 public key is {ED25519_PUBLIC_KEY_SIZE} raw bytes")
    material = key_name.encode("utf-8") + b"\n" + ED25519_SIGNATURE_TYPE + bytes(public_key_raw)
    return hashlib.sha256(material).digest()[:KEY_HASH_SIZE]


def sign_checkpoint(private_key: Ed25519PrivateKey, checkpoint: Checkpoint) -> SignedCheckpoint:
    """Sign the checkpoint's exact body bytes."""
    return SignedCheckpoint(checkpoint, private_key.sign(checkpoint.body()))


def verify_checkpoint_signature(public_key: Ed25519PublicKey, body: bytes, signature: bytes) -> Checkpoint:
    """Check the signature over the exact body bytes, and only then parse them."""
    if not isinstance(signature, (bytes, bytearray)) or len(signature) != ED25519_SIGNATURE_SIZE:
        raise SignatureError(f"an Ed25519 signature is {ED25519_SIGNATURE_SIZE} bytes", code="signature_malformed")
    try:
        public_key.verify(bytes(signature), bytes(body))
    except InvalidSignature as exc:
        raise SignatureError("checkpoint signature does not verify with the ledger key") from exc
    return Checkpoint.parse(body)


def note_signature_line(key_name: str, public_key_raw: bytes, signature: bytes) -> bytes:
    """One signed-note signature line, newline included."""
    blob = note_key_hash(key_name, public_key_raw) + bytes(signature)
    return f"{SIGNATURE_LINE_PREFIX}{key_name} {base64.b64encode(blob).decode('ascii')}\n".encode()


def signed_note(
    signed: SignedCheckpoint, public_key: Ed25519PublicKey, key_name: str | None = None
) -> bytes:
    """The checkpoint as a C2SP signed note; the key name defaults to the origin."""
    name = signed.checkpoint.origin if key_name is None else key_name
    return signed.body() + b"\n" + note_signature_line(name, _raw_public_key(public_key), signed.signature)


def _split_note(note: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Split a signed note into its text and its (key name, signature blob) lines."""
    if not isinstance(note, (bytes, bytearray)):
        raise CheckpointFormatError("a signed note must be bytes", code="note_malformed")
    note = bytes(note)
    try:
        note.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointFormatError("signed note is not UTF-8", code="note_malformed") from exc
    if any(byte < 0x20 and byte != 0x0A for byte in note):
        raise CheckpointFormatError("signed note has control characters other than newline", code="note_malformed")
    split = note.rfind(b"\n\n")
    if split < 0 or not note.endswith(b"\n"):
        raise CheckpointFormatError("signed note has no blank line before its signatures", code="note_malformed")
    text, signature_block = note[: split + 1], note[split + 2 :]
    lines = signature_block.decode("utf-8")[:-1].split("\n") if signature_block else []
    if not lines or len(lines) > MAX_NOTE_SIGNATURES:
        raise CheckpointFormatError(
            f"signed note must carry 1 to {MAX_NOTE_SIGNATURES} signatures", code="note_malformed"
        )
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_LINE_PREFIX):
            raise CheckpointFormatError(
                f"signature line {line!r} does not start with an em dash", code="note_malformed"
            )
        name, _, encoded = line[len(SIGNATURE_LINE_PREFIX) :].partition(" ")
        if not _is_key_name(name) or not encoded:
            raise CheckpointFormatError(f"signature line {line!r} is malformed", code="note_malformed")
        try:
            blob = base64.b64decode(encoded.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error) as exc:
            raise CheckpointFormatError(f"signature line {line!r} is not base64", code="note_malformed") from exc
        if len(blob) <= KEY_HASH_SIZE:
            raise CheckpointFormatError(f"signature line {line!r} is too short", code="note_malformed")
        signatures.append((name, blob))
    return text, signatures


def open_note(note: bytes, public_key: Ed25519PublicKey, key_name: str) -> tuple[bytes, bytes]:
    """Verify a signed note with one known key; return (text, signature).

    Signatures by other keys are ignored, as the spec asks; two by this key,
    or none that verifies, is an error.
    """
    text, signatures = _split_note(note)
    expected_hash = note_key_hash(key_name, _raw_public_key(public_key))
    ours = [
        blob[KEY_HASH_SIZE:]
        for name, blob in signatures
        if name == key_name and blob[:KEY_HASH_SIZE] == expected_hash
    ]
    if not ours:
        raise SignatureError(f"signed note carries no signature by key {key_name!r}", code="signature_missing")
    if len(ours) > 1:
        raise CheckpointFormatError(f"signed note carries key {key_name!r} more than once", code="note_malformed")
    signature = ours[0]
    if len(signature) != ED25519_SIGNATURE_SIZE:
        raise SignatureError(f"an Ed25519 signature is {ED25519_SIGNATURE_SIZE} bytes", code="signature_malformed")
    try:
        public_key.verify(signature, text)
    except InvalidSignature as exc:
        raise SignatureError(f"signed note signature by {key_name!r} does not verify") from exc
    return text, signature


def parse_signed_note(
    note: bytes, public_key: Ed25519PublicKey, key_name: str | None = None
) -> SignedCheckpoint:
    """Verify a checkpoint note, then parse its body; the key name defaults to the origin.

    Without a key name the origin is read from the unverified first line only
    to pick the signature line; the key hash binds that name to the key, and
    the signature must verify before the body is parsed.
    """
    if key_name is None:
        first_line = bytes(note).split(b"\n", 1)[0]
        try:
            key_name = first_line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointFormatError("signed note is not UTF-8", code="note_malformed") from exc
        if not _is_key_name(key_name):
            raise CheckpointFormatError("signed note's origin line is not a key name", code="note_malformed")
    text, signature = open_note(note, public_key, key_name)
    return SignedCheckpoint(Checkpoint.parse(text), signature)


# Public names for the note's parts, shared with the cosignature module.
is_key_name = _is_key_name
split_note = _split_note
