"""The organisation's content-credential certificate: generated once in development, required in production."""
import logging
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from core.errors import ConfigurationError
from core.keys import (
    C2PA_CHAIN_NAME,
    C2PA_KEY_NAME,
    C2PA_ROOT_NAME,
    load_content_credentials,
    read_content_credential_files,
    write_development_content_credentials,
)
from core.settings import Settings


def test_development_generates_a_chain_once_and_says_so(tmp_path, caplog):
    settings = Settings(data_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="fieldproof.keys"):
        first = load_content_credentials(settings)
    assert "GENERATED A DEVELOPMENT CERTIFICATE CHAIN" in caplog.text and first.fingerprint in caplog.text
    assert load_content_credentials(settings).fingerprint == first.fingerprint  # kept, not regenerated
    keys = tmp_path / "keys"
    assert stat.S_IMODE(os.stat(keys / C2PA_KEY_NAME).st_mode) == 0o600
    leaf, root = x509.load_pem_x509_certificates((keys / C2PA_CHAIN_NAME).read_bytes())
    assert root.public_bytes(serialization.Encoding.PEM) == (keys / C2PA_ROOT_NAME).read_bytes()
    assert leaf.issuer == root.subject and first.algorithm == "es256"
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_production_and_a_configured_but_missing_file_refuse_to_start(tmp_path):
    with pytest.raises(ConfigurationError, match="FIELDPROOF_C2PA_CERT_FILE"):
        load_content_credentials(Settings(env="production", data_dir=tmp_path))
    with pytest.raises(ConfigurationError, match="must both exist"):
        load_content_credentials(Settings(data_dir=tmp_path, c2pa_cert_file=tmp_path / "absent.pem"))
    assert not (tmp_path / "keys").exists()  # nothing was generated in their place


def test_configured_files_are_used_and_a_key_of_another_certificate_is_refused(tmp_path):
    one = write_development_content_credentials(tmp_path / "a" / "chain.pem", tmp_path / "a" / "key.pem", "Org A")
    write_development_content_credentials(tmp_path / "b" / "chain.pem", tmp_path / "b" / "key.pem", "Org B")
    settings = Settings(env="production", data_dir=tmp_path, c2pa_cert_file=tmp_path / "a" / "chain.pem",
                        c2pa_key_file=tmp_path / "a" / "key.pem")
    assert load_content_credentials(settings).fingerprint == one.fingerprint
    with pytest.raises(ConfigurationError, match="is not the key of the first certificate"):
        read_content_credential_files(tmp_path / "a" / "chain.pem", tmp_path / "b" / "key.pem")
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="cannot be parsed"):
        read_content_credential_files(tmp_path / "junk.pem", tmp_path / "a" / "key.pem")


def test_settings_read_the_two_files_from_the_environment(tmp_path):
    settings = Settings.from_env({"FIELDPROOF_DATA_DIR": str(tmp_path), "FIELDPROOF_C2PA_CERT_FILE": "/k/chain.pem",
                                  "FIELDPROOF_C2PA_KEY_FILE": "/k/key.pem"})
    assert (str(settings.c2pa_cert_file), str(settings.c2pa_key_file)) == ("/k/chain.pem", "/k/key.pem")
