"""The ledger's Ed25519 signing key, kept in a PEM file and never in the database.

Development generates a key on first start (under `<data_dir>/keys/`) and says so loudly with
its key id; production refuses to start without a readable key file. `rotate_key_file` puts a
new key in place and keeps the old file, renamed as retired, so nothing that signed is lost.
The running process notices a rotated file on its next signature, so a rotation by the CLI
takes effect without a restart.

The organisation's content-credential (C2PA) certificate and key are kept the same way, below.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.errors import ConfigurationError
from core.files import write_atomically
from core.settings import Settings
from core.signing import key_id as key_id_of

log = logging.getLogger("fieldproof.keys")

DEFAULT_KEY_NAME = "ledger-ed25519.pem"


@dataclass(frozen=True)
class LedgerKey:
    """One Ed25519 key pair with its public forms and key id (hex SHA-256 of the raw public key)."""

    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def public_raw(self) -> bytes:
        return self.public_key.public_bytes_raw()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_raw)

    @property
    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def key_path(settings: Settings) -> Path:
    return Path(settings.signing_key_file) if settings.signing_key_file else Path(settings.data_dir) / "keys" / DEFAULT_KEY_NAME


def read_key_file(path: Path) -> LedgerKey:
    """Parse a PEM Ed25519 private key; any failure is a configuration error naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"signing key file {path} cannot be read: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"signing key file {path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"signing key file {path} does not hold an Ed25519 key")
    return LedgerKey(key)


def write_new_key_file(path: Path) -> LedgerKey:
    """Generate a key and write it owner-only, atomically (never half a key file)."""
    key = LedgerKey(Ed25519PrivateKey.generate())
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_atomically(path, pem, mode=0o600)
    return key


def retired_path(path: Path, old: LedgerKey) -> Path:
    return path.with_name(f"{path.stem}.{old.key_id[:16]}.retired{path.suffix}")


def rotate_key_file(path: Path) -> tuple[LedgerKey | None, LedgerKey]:
    """Keep the current key file as retired, then put a new key at `path`; returns (old, new)."""
    old = read_key_file(path) if path.exists() else None
    if old is not None:
        os.link(path, retired_path(path, old))  # the old key stays on disk, under its key id
    new = write_new_key_file(path)
    log.warning("ledger signing key rotated: new key id %s in %s (old key %s kept as retired)",
                new.key_id, path, old.key_id if old else "none")
    return old, new


class LedgerSigner:
    """The process's signer: the key in the key file, re-read when the file is replaced."""

    def __init__(self, path: Path, key: LedgerKey):
        self.path = path
        self._key = key
        self._stamp = self._file_stamp()
        self._lock = threading.Lock()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    @property
    def key(self) -> LedgerKey:
        with self._lock:
            stamp = self._file_stamp()
            if stamp is not None and stamp != self._stamp:
                self._key = read_key_file(self.path)
                self._stamp = stamp
                log.warning("ledger signing key file changed: now signing with key id %s", self._key.key_id)
            return self._key

    @property
    def key_id(self) -> str:
        return self.key.key_id


def load_signer(settings: Settings) -> LedgerSigner:
    """The signer for this process: production needs the configured file; development makes one."""
    path = key_path(settings)
    if path.exists():
        return LedgerSigner(path, read_key_file(path))
    if settings.production:
        raise ConfigurationError(f"production start refused: signing key file {path} does not exist")
    key = write_new_key_file(path)
    log.warning("no ledger signing key: GENERATED A DEVELOPMENT KEY in %s with key id %s "
                "(set FIELDPROOF_SIGNING_KEY_FILE in production)", path, key.key_id)
    return LedgerSigner(path, key)


# --- content credentials (C2PA) --------------------------------------------------------------------
# The organisation certificate that signs the C2PA manifests on exported images. C2PA validators want
# an X.509 chain, not a bare key: an end-entity certificate (digitalSignature, an extended key usage,
# not a CA) issued by a CA. Development generates such a chain under `<data_dir>/keys/` and says so
# loudly; production refuses to start without both configured files, as it does for the ledger key.

C2PA_CHAIN_NAME = "c2pa-dev-chain.pem"
C2PA_KEY_NAME = "c2pa-dev-es256.pem"
C2PA_ROOT_NAME = "c2pa-dev-root.pem"
_C2PA_ALGORITHMS = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}


@dataclass(frozen=True)
class ContentCredentialKey:
    """The certificate chain (end entity first, PEM) and its private key, with the C2PA algorithm name."""

    chain_pem: bytes
    private_key_pem: bytes
    algorithm: str
    certificate: x509.Certificate

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the end-entity certificate (DER): what an auditor compares out of band."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()


def content_credential_paths(settings: Settings) -> tuple[Path, Path]:
    keys = Path(settings.data_dir) / "keys"
    return (Path(settings.c2pa_cert_file) if settings.c2pa_cert_file else keys / C2PA_CHAIN_NAME,
            Path(settings.c2pa_key_file) if settings.c2pa_key_file else keys / C2PA_KEY_NAME)


def _c2pa_algorithm(key) -> str | None:
    if isinstance(key, Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _C2PA_ALGORITHMS.get(key.curve.name)
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    return None


def read_content_credential_files(chain_path: Path, key_path: Path) -> ContentCredentialKey:
    """Parse the chain and key; a key that is not the end-entity certificate's is a configuration error."""
    try:
        chain_pem, key_pem = chain_path.read_bytes(), key_path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"content credential file {exc.filename} cannot be read: {exc.strerror}") from None
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"content credential files {chain_path} / {key_path} cannot be parsed: {exc}") from None
    algorithm = _c2pa_algorithm(key)
    if algorithm is None:
        raise ConfigurationError(f"content credential key {key_path} must be EC P-256/384/521, Ed25519 or RSA")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if chain[0].public_key().public_bytes(serialization.Encoding.DER, public) != \
            key.public_key().public_bytes(serialization.Encoding.DER, public):
        raise ConfigurationError(f"content credential key {key_path} is not the key of the first certificate "
                                 f"in {chain_path}")
    return ContentCredentialKey(chain_pem, key_pem, algorithm, chain[0])


def _name(organisation: str, role: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} {role} (development)")])


def write_development_content_credentials(chain_path: Path, key_path: Path, organisation: str,
                                          now: datetime | None = None) -> ContentCredentialKey:
    """A development root CA and an ES256 end-entity certificate it issued, as C2PA validators expect.

    The root is written beside the chain (``c2pa-dev-root.pem``) so a test or an auditor can pin it
    as a trust anchor; its private key is discarded, so nothing else can ever be issued under it.
    """
    now = now or datetime.now(timezone.utc)
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    no_usage = dict.fromkeys(("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                              "encipher_only", "decipher_only"), False)
    root = (x509.CertificateBuilder().subject_name(_name(organisation, "content credentials root"))
            .issuer_name(_name(organisation, "content credentials root")).public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **no_usage),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(_name(organisation, "content credentials"))
            .issuer_name(root.subject).public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=825))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **no_usage),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    chain_pem = leaf.public_bytes(pem) + root.public_bytes(pem)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    chain_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(key_path, key_pem, mode=0o600)
    write_atomically(chain_path.with_name(C2PA_ROOT_NAME), root.public_bytes(pem))
    write_atomically(chain_path, chain_pem)  # last: its presence means the set is complete
    return ContentCredentialKey(chain_pem, key_pem, "es256", leaf)


def load_content_credentials(settings: Settings) -> ContentCredentialKey:
    """The organisation's C2PA signing certificate: configured in production, generated in development."""
    chain_path, key_path = content_credential_paths(settings)
    if chain_path.exists() and key_path.exists():
        return read_content_credential_files(chain_path, key_path)
    if settings.production or settings.c2pa_cert_file or settings.c2pa_key_file:
        raise ConfigurationError(f"start refused: content credential certificate {chain_path} and key {key_path} "
                                 "must both exist (FIELDPROOF_C2PA_CERT_FILE, FIELDPROOF_C2PA_KEY_FILE)")
    chain_path.parent.mkdir(parents=True, exist_ok=True)
    with open(chain_path.with_name(".c2pa-dev.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes starting at once must not mix two chains' files
        if chain_path.exists() and key_path.exists():
            return read_content_credential_files(chain_path, key_path)
        credentials = write_development_content_credentials(chain_path, key_path, settings.organisation_name)
    log.warning("no content credential certificate: GENERATED A DEVELOPMENT CERTIFICATE CHAIN in %s (fingerprint "
                "%s; root in %s); exported images carry C2PA manifests no one outside trusts (set "
                "FIELDPROOF_C2PA_CERT_FILE and FIELDPROOF_C2PA_KEY_FILE in production)",
                chain_path, credentials.fingerprint, chain_path.with_name(C2PA_ROOT_NAME))
    return credentials
