"""RFC 3161 timestamp tokens over checkpoint notes, checked offline.

The token is the DER TimeStampToken (a CMS SignedData ContentInfo), what `openssl ts -verify
-token_in` reads. Checking one means: its message imprint is the SHA-256 of exactly these note
bytes; its CMS signature verifies with a time-stamping certificate (critical EKU
id-kp-timeStamping) valid at the stamp's time; and that certificate's chain ends at one of the
*pinned* roots. `rfc3161-client` does the first two; it hands every certificate it is given to
OpenSSL as trusted, so the chain to a pinned root is walked here too, with each link's
signature checked by `cryptography` — a token that embeds its own root proves nothing.
No network, database or clock: the caller gives the bytes and the roots.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder, VerificationError, VerifierBuilder, decode_timestamp_response
from rfc3161_client.tsp import TimeStampResponse

from custody.ledger.merkle import VerificationError as LedgerVerificationError

__all__ = [
    "StampedTime",
    "TimestampError",
    "certificates_pem",
    "load_certificates",
    "response_from_token",
    "timestamp_request",
    "verify_token",
]

MAX_CHAIN = 8


class TimestampError(LedgerVerificationError):
    """A timestamp token that does not prove what it claims; `code` names the problem."""

    code = "timestamp_invalid"


@dataclass(frozen=True)
class StampedTime:
    """What a verified token proves: these bytes existed at `time`, per the TSA named."""

    time: datetime
    tsa_subject: str
    root_subject: str
    serial_number: int


def timestamp_request(message: bytes):
    """A SHA-256 request with a nonce, asking for the TSA's certificate in the token."""
    return TimestampRequestBuilder().data(bytes(message)).hash_algorithm(HashAlgorithm.SHA256).build()


def _der_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def response_from_token(token: bytes) -> TimeStampResponse:
    """Wrap a stored token in a granted TimeStampResp (status 0) so the library can read it."""
    body = b"\x30\x03\x02\x01\x00" + bytes(token)
    try:
        return decode_timestamp_response(b"\x30" + _der_length(len(body)) + body)
    except ValueError as exc:
        raise TimestampError(f"the timestamp token is not DER: {exc}", code="timestamp_malformed") from exc


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(bytes(pem))
    except ValueError as exc:
        raise ValueError(f"not PEM certificates: {exc}") from exc


def certificates_pem(certificates) -> str:
    return "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certificates)


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _signer(response: TimeStampResponse, pool: list[x509.Certificate]) -> x509.Certificate:
    try:
        infos = [(info.issuer, info.serial_number) for info in response.signed_data.signer_infos]
    except ValueError as exc:
        raise TimestampError("the token's signer is malformed", code="timestamp_malformed") from exc
    if len(infos) != 1:
        raise TimestampError("the token must have exactly one signer", code="timestamp_malformed")
    issuer, serial_number = infos[0]
    for certificate in pool:
        if certificate.issuer == issuer and certificate.serial_number == serial_number:
            return certificate
    raise TimestampError("the TSA's certificate is neither in the token nor in the given chain",
                         code="timestamp_chain_untrusted")


def _chain_to_root(leaf: x509.Certificate, pool: list[x509.Certificate],
                   roots: list[x509.Certificate], at: datetime) -> x509.Certificate:
    """Walk issuer links from the TSA's certificate to a pinned root, checking each signature."""
    pinned = {root.public_bytes(Encoding.DER) for root in roots}
    current = leaf
    for _ in range(MAX_CHAIN):
        if not current.not_valid_before_utc <= at <= current.not_valid_after_utc:
            raise TimestampError(f"certificate {current.subject.rfc4514_string()} was not valid at the stamp's time",
                                 code="timestamp_chain_untrusted")
        if current.public_bytes(Encoding.DER) in pinned:
            return current
        for root in roots:
            if root.subject == current.issuer and _issued_by(current, root):
                return root
        parents = [c for c in pool if c.subject == current.issuer and c is not current
                   and c.subject != c.issuer and _issued_by(current, c)]
        if not parents:
            break
        current = parents[0]
    raise TimestampError("the TSA's certificate does not chain to a pinned root", code="timestamp_chain_untrusted")


def verify_token(token: bytes, message: bytes, roots: list[x509.Certificate],
                 intermediates: list[x509.Certificate] = (), *, nonce: int | None = None) -> StampedTime:
    """Check a token over `message` against pinned `roots`; return the trusted time."""
    if not roots:
        raise TimestampError("no pinned TSA root to check the token against", code="timestamp_root_missing")
    response = response_from_token(token)
    try:
        embedded = [x509.load_der_x509_certificate(der) for der in response.signed_data.certificates]
        imprint = response.tst_info.message_imprint
        gen_time = response.tst_info.gen_time
        serial_number = response.tst_info.serial_number
    except ValueError as exc:
        raise TimestampError(f"the timestamp token is malformed: {str(exc)[:200]}",
                             code="timestamp_malformed") from exc
    pool = embedded + list(intermediates)
    if imprint.hash_algorithm.dotted_string != "2.16.840.1.101.3.4.2.1":
        raise TimestampError("the token's message imprint is not SHA-256", code="timestamp_malformed")
    if imprint.message != hashlib.sha256(bytes(message)).digest():
        raise TimestampError("the token stamps other bytes than this checkpoint's signed note",
                             code="timestamp_imprint_mismatch")
    if gen_time.tzinfo is None:
        gen_time = gen_time.replace(tzinfo=timezone.utc)
    signer = _signer(response, pool)
    root = _chain_to_root(signer, pool, list(roots), gen_time)
    builder = VerifierBuilder(roots=[root], intermediates=[c for c in pool if c != root])
    if nonce is not None:
        builder = builder.nonce(nonce)
    try:
        builder.build().verify_message(response, bytes(message))
    except (VerificationError, ValueError) as exc:
        raise TimestampError(f"the token's signature does not verify: {str(exc)[:200]}", code="timestamp_signature_invalid") \
            from exc
    return StampedTime(gen_time, signer.subject.rfc4514_string(), root.subject.rfc4514_string(),
                       serial_number)
