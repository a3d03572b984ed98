"""A real RFC 3161 time-stamping authority on loopback, for tests.

A test CA (root → TSA certificate with a critical id-kp-timeStamping EKU) made with
`cryptography`; pyHanko's `DummyTimeStamper` signs the tokens; `http.server` answers
`application/timestamp-query` POSTs. `available` switches it to answering 503 (a TSA that is
down); `fixed_time` backdates or pins its clock; `requests` counts what it was asked.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp as asn1_tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "FieldProof tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass
class LocalCA:
    """A root and one time-stamping certificate it issued."""

    root: x509.Certificate
    root_key: rsa.RSAPrivateKey
    tsa_cert: x509.Certificate
    tsa_key: rsa.RSAPrivateKey

    @classmethod
    def create(cls, label: str = "Test") -> LocalCA:
        now = datetime.now(timezone.utc) - timedelta(days=3650)  # valid for backdated stamps too
        root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        root = (x509.CertificateBuilder().subject_name(_name(f"{label} Root CA")).issuer_name(_name(f"{label} Root CA"))
                .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + timedelta(days=7300))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
                .sign(root_key, hashes.SHA256()))
        tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        tsa_cert = (x509.CertificateBuilder().subject_name(_name(f"{label} TSA")).issuer_name(root.subject)
                    .public_key(tsa_key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(now).not_valid_after(now + timedelta(days=7300))
                    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                    .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                                 key_encipherment=False, data_encipherment=False, key_agreement=False,
                                                 key_cert_sign=False, crl_sign=False, encipher_only=False,
                                                 decipher_only=False), critical=True)
                    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
                    .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                                   critical=False)
                    .sign(root_key, hashes.SHA256()))
        return cls(root, root_key, tsa_cert, tsa_key)

    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    def write_root(self, path: Path) -> Path:
        path.write_bytes(self.root_pem())
        return path


@dataclass
class LocalTSA:
    """The TSA server; `url` once started."""

    ca: LocalCA
    available: bool = True
    fixed_time: datetime | None = None
    requests: int = 0
    answered: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def _stamper(self):
        from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

        cert = asn1_x509.Certificate.load(self.ca.tsa_cert.public_bytes(serialization.Encoding.DER))
        key = asn1_keys.PrivateKeyInfo.load(self.ca.tsa_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return DummyTimeStamper(tsa_cert=cert, tsa_key=key, certs_to_embed=[cert], fixed_dt=self.fixed_time)

    def start(self) -> LocalTSA:
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                tsa.requests += 1
                if not tsa.available or self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_response(503 if not tsa.available else 415)
                    self.end_headers()
                    return
                answer = tsa._stamper().request_tsa_response(asn1_tsp.TimeStampReq.load(body)).dump()
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                tsa.answered.set()

            def log_message(self, *_args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="test-tsa")
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/tsa"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
