"""The ledger's Ed25519 signing key, kept in a PEM file and never in the database.

Development generates a key on first start (under `<data_dir>/keys/`) and says so loudly with
its key id; production refuses to start without a readable key file. `rotate_key_file` puts a
new key in place and keeps the old file, renamed as retired, so nothing that signed is lost.
The running process notices a rotated file on its next signature, so a rotation by the CLI
takes effect without a restart.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.errors import ConfigurationError
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
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
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
