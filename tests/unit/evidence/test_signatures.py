"""Device signatures: canonical payload bytes, verification, strict device keys."""
from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evidence.errors import EvidenceRejected, InvalidDeviceKey, InvalidSignature
from evidence.signatures import (
    check_device_signature,
    parse_device_public_key,
    signed_payload,
    verify_device_signature,
)

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
FIELDS = {"sha256": SHA, "captured_at": "2024-05-01T10:30:00+08:00", "lat": 31.2304,
          "lon": 121.4737, "visit_id": "6f1c2a5e-3b8d-4e1f-9a7c-2d4b6e8f0a1c"}
# RFC 8032 section 7.1, TEST 1
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def device() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    return key, b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def test_payload_is_rfc8785_canonical_json():
    assert signed_payload(**FIELDS) == (
        b'{"captured_at":"2024-05-01T10:30:00+08:00","lat":31.2304,"lon":121.4737,'
        b'"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",'
        b'"visit_id":"6f1c2a5e-3b8d-4e1f-9a7c-2d4b6e8f0a1c"}'
    )


def test_payload_number_and_case_canonicalisation():
    payload = signed_payload(**{**FIELDS, "sha256": SHA.upper(), "lat": 1e-7, "lon": -180.0,
                                "visit_id": 42})
    assert b'"lat":1e-7' in payload and b'"lon":-180' in payload and b'"visit_id":42' in payload
    assert SHA.encode() in payload


@pytest.mark.parametrize("change", [
    {"sha256": "abc"}, {"sha256": "z" * 64}, {"captured_at": ""}, {"lat": float("nan")},
    {"lon": float("inf")}, {"lat": 90.5}, {"lon": -181.0}, {"lat": True}, {"lat": "31.2"},
    {"visit_id": None}, {"visit_id": False},
])
def test_payload_refuses_malformed_fields(change):
    with pytest.raises(ValueError):
        signed_payload(**{**FIELDS, **change})


def test_good_signature_verifies():
    key, public = device()
    payload = signed_payload(**FIELDS)
    signature = b64(key.sign(payload))
    assert verify_device_signature(public, signature, payload) is True
    check_device_signature(public, signature, payload)


def test_rfc8032_key_and_vector():
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    assert key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) == RFC8032_PUBLIC
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    assert verify_device_signature(b64(RFC8032_PUBLIC), b64(signature), b"")


@pytest.mark.parametrize("field, value", [
    ("sha256", "0" * 64), ("captured_at", "2024-05-01T10:31:00+08:00"), ("lat", 31.2305),
    ("lon", 121.4738), ("visit_id", "another-visit"),
])
def test_any_changed_field_breaks_the_signature(field, value):
    key, public = device()
    signature = b64(key.sign(signed_payload(**FIELDS)))
    tampered = signed_payload(**{**FIELDS, field: value})
    assert verify_device_signature(public, signature, tampered) is False
    with pytest.raises(InvalidSignature) as caught:
        check_device_signature(public, signature, tampered)
    assert caught.value.code == "invalid_signature"
    assert isinstance(caught.value, EvidenceRejected)


def test_signature_by_another_device_fails():
    key, _ = device()
    _, other_public = device()
    payload = signed_payload(**FIELDS)
    assert verify_device_signature(other_public, b64(key.sign(payload)), payload) is False


@pytest.mark.parametrize("signature", [
    "", "not base64!", b64(b"\x00" * 63), b64(b"\x00" * 65), b64(b"\x00" * 64),
    b64(b"\xff" * 64), None,
])
def test_malformed_signatures_are_false_not_errors(signature):
    _, public = device()
    assert verify_device_signature(public, signature, signed_payload(**FIELDS)) is False


def test_only_standard_padded_base64_signatures_count():
    key, public = device()
    payload = signed_payload(**FIELDS)
    raw = key.sign(payload)
    assert verify_device_signature(public, b64(raw), payload)
    assert not verify_device_signature(public, b64(raw).rstrip("="), payload)
    assert not verify_device_signature(public, " " + b64(raw), payload)


SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4, other sign
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
]


@pytest.mark.parametrize("text", [
    "", "AAAA", b64(b"\x01" * 31), b64(RFC8032_PUBLIC + b"\x00"), "not-base64!!",
    b64(RFC8032_PUBLIC).rstrip("="),
    base64.b64encode(b"\x00" * 32).decode() + "\n",
    b64(bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")),
    b64(bytes.fromhex("0200000000000000000000000000000000000000000000000000000000000000")),
    *[b64(bytes.fromhex(point)) for point in SMALL_ORDER],
])
def test_invalid_device_keys_are_refused(text):
    with pytest.raises(InvalidDeviceKey) as caught:
        parse_device_public_key(text)
    assert caught.value.code == "invalid_device_key"
    with pytest.raises(InvalidDeviceKey):
        verify_device_signature(text, b64(b"\x00" * 64), b"payload")


def test_mixed_order_key_is_refused():
    """A real key plus a torsion point: OpenSSL would load it; it is not in the prime subgroup."""
    from evidence import signatures

    real = signatures._decode_point(RFC8032_PUBLIC)
    torsion = signatures._decode_point(bytes.fromhex(SMALL_ORDER[4]))
    x, y, z, _ = signatures._add(real, torsion)
    inverse = pow(z, signatures._P - 2, signatures._P)
    x, y = x * inverse % signatures._P, y * inverse % signatures._P
    encoded = (y | ((x & 1) << 255)).to_bytes(32, "little")
    with pytest.raises(InvalidDeviceKey):
        parse_device_public_key(b64(encoded))


def test_valid_keys_parse():
    assert parse_device_public_key(b64(RFC8032_PUBLIC)).public_bytes(
        Encoding.Raw, PublicFormat.Raw) == RFC8032_PUBLIC
    for _ in range(20):
        _, public = device()
        parse_device_public_key(public)
