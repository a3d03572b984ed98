import pytest

from core.crypto import FieldCipher, mask_tail


@pytest.mark.parametrize("value,masked", [
    ("110101198501011234", "**************1234"),
    ("+86 138 0013 8000", "*************8000"),
    ("1234", "****"),
    ("12", "**"),
    (None, None),
])
def test_mask_keeps_only_the_last_four(value, masked):
    assert mask_tail(value) == masked


def test_round_trip_and_fresh_nonce():
    cipher = FieldCipher.from_secret("k" * 40)
    a, b = cipher.encrypt("110101198501011234", "cases.national_id"), cipher.encrypt("110101198501011234",
                                                                                      "cases.national_id")
    assert a != b and "1234" not in a
    assert cipher.decrypt(a, "cases.national_id") == "110101198501011234"


def test_ciphertext_is_bound_to_its_column_and_key():
    cipher = FieldCipher.from_secret("k" * 40)
    token = cipher.encrypt("secret", "cases.phone")
    with pytest.raises(ValueError):
        cipher.decrypt(token, "cases.national_id")
    with pytest.raises(ValueError):
        FieldCipher.from_secret("other" * 10).decrypt(token, "cases.phone")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(ValueError):
        cipher.decrypt(tampered, "cases.phone")
