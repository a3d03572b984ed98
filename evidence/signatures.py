"""Device signatures over capture metadata: Ed25519 over RFC 8785 canonical JSON.

A registered device signs `{sha256, captured_at, lat, lon, visit_id}` when it captures, so a
court can see that these values left the phone together and were not edited on the server.
The payload is canonical JSON (JCS), which any verifier can rebuild byte for byte; values are
signed as the device sent them (`captured_at` is the exact string, not a re-formatted date).

Device keys are checked strictly when registered and again when used: exactly 32 raw bytes
that decode to a point of the prime-order subgroup. OpenSSL accepts any 32 bytes at load time,
and a small-order key would let one signature "verify" for many payloads.
"""
from __future__ import annotations

import base64
import binascii
import math

import rfc8785
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.errors import InvalidDeviceKey, InvalidSignature

_HEX = frozenset("0123456789abcdef")


def signed_payload(
    *, sha256: str, captured_at: str, lat: float, lon: float, visit_id: str | int
) -> bytes:
    """The exact bytes a device signs: JCS of the five capture fields.

    `sha256` is signed in lowercase hex, the form hashes travel in everywhere in the API.
    """
    digest = sha256.lower() if isinstance(sha256, str) else ""
    if len(digest) != 64 or not _HEX.issuperset(digest):
        raise ValueError("sha256 must be 64 hex digits")
    if not isinstance(captured_at, str) or not captured_at:
        raise ValueError("captured_at must be the timestamp string the device sent")
    for name, value, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number")
        if not math.isfinite(value) or abs(value) > limit:
            raise ValueError(f"{name} out of range")
    if isinstance(visit_id, bool) or not isinstance(visit_id, (str, int)):
        raise ValueError("visit_id must be a string or an integer")
    return rfc8785.dumps(
        {"sha256": digest, "captured_at": captured_at, "lat": lat, "lon": lon,
         "visit_id": visit_id}
    )


def parse_device_public_key(public_key_b64: str) -> Ed25519PublicKey:
    """Decode a registered device key: standard base64 of 32 raw bytes, a usable point."""
    raw = _strict_b64(public_key_b64)
    if raw is None or len(raw) != 32:
        raise InvalidDeviceKey("device key must be base64 of exactly 32 raw bytes")
    if not _is_prime_order_point(raw):
        raise InvalidDeviceKey("device key is not a valid Ed25519 point of prime order")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_device_signature(public_key_b64_raw32: str, signature_b64: str, payload: bytes) -> bool:
    """True when `signature_b64` (64 raw bytes, base64) verifies over `payload`.

    A malformed signature is simply not a valid one (False); a malformed key is a registration
    fault and raises `InvalidDeviceKey`.
    """
    key = parse_device_public_key(public_key_b64_raw32)
    signature = _strict_b64(signature_b64)
    if signature is None or len(signature) != 64:
        return False
    try:
        key.verify(signature, payload)
    except _CryptoInvalidSignature:
        return False
    return True


def check_device_signature(public_key_b64_raw32: str, signature_b64: str, payload: bytes) -> None:
    """`verify_device_signature`, raising `InvalidSignature` for the refusal path."""
    if not verify_device_signature(public_key_b64_raw32, signature_b64, payload):
        raise InvalidSignature("device signature does not verify over the capture metadata")


def _strict_b64(text: object) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


# --- Ed25519 point checks (RFC 8032 section 5.1.3), independent of the verifier ------------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Point = tuple[int, int, int, int]
_IDENTITY: _Point = (0, 1, 1, 0)


def _decode_point(raw: bytes) -> _Point | None:
    """Decompress a canonical encoding, or None when it is not on the curve."""
    y = int.from_bytes(raw, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    if (v * x * x - u) % _P:
        x = x * _SQRT_M1 % _P
        if (v * x * x - u) % _P:
            return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


def _add(a: _Point, b: _Point) -> _Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % _P
    bb = (y1 + x1) * (y2 + x2) % _P
    cc = 2 * _D * t1 * t2 % _P
    dd = 2 * z1 * z2 % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(point: _Point, scalar: int) -> _Point:
    result = _IDENTITY
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _is_identity(point: _Point) -> bool:
    x, y, z, _ = point
    return x % _P == 0 and (y - z) % _P == 0


def _is_prime_order_point(raw: bytes) -> bool:
    point = _decode_point(raw)
    if point is None or _is_identity(_multiply(point, 8)):
        return False
    return _is_identity(_multiply(point, _L))
