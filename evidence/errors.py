"""Why an upload was refused as evidence.

Every refusal of bytes or of their claims is an `EvidenceRejected` with a stable `code`, so
the API layer can map each class to one HTTP status in one place and clients can branch on
`code` without parsing prose. `context` carries the measured values (limits, hashes) that a
reviewer needs to see why the item was refused.
"""
from __future__ import annotations


class EvidenceRejected(Exception):
    """Base of every refusal raised by the evidence ingest path."""

    code = "evidence_rejected"

    def __init__(self, detail: str = "", **context: object) -> None:
        super().__init__(detail or self.code)
        self.detail = detail or self.code
        self.context = context


class TooLarge(EvidenceRejected):
    """More bytes than the configured limit (413)."""

    code = "too_large"


class UnsupportedMediaType(EvidenceRejected):
    """The bytes are none of the allowed formats (415), whatever the file was called."""

    code = "unsupported_media_type"


class MediaMismatch(EvidenceRejected):
    """The bytes are an allowed format but not of the kind the collector declared."""

    code = "media_mismatch"


class CorruptMedia(EvidenceRejected):
    """The header promises a format that the rest of the bytes do not deliver."""

    code = "corrupt_media"


class DecompressionBomb(EvidenceRejected):
    """A small file that would expand past the pixel or inflate limit when decoded."""

    code = "decompression_bomb"


class HashMismatch(EvidenceRejected):
    """The bytes do not hash to the SHA-256 the device claimed (422, nothing kept)."""

    code = "hash_mismatch"


class InvalidSignature(EvidenceRejected):
    """A device signature is present and does not verify over the capture metadata."""

    code = "invalid_signature"


class InvalidDeviceKey(EvidenceRejected):
    """A device public key that is not exactly one usable Ed25519 point."""

    code = "invalid_device_key"


class MaliciousContent(EvidenceRejected):
    """Active content or a second file hidden in an allowed format (polyglot, PDF actions)."""

    code = "malicious_content"


class InvalidRegion(EvidenceRejected):
    """A redaction region or mode that does not fit the image it is meant for (422)."""

    code = "invalid_region"
