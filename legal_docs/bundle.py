"""The packet bundle: one zip a lawyer can hand over and a stranger can check.

Entries are written in a fixed order with fixed timestamps (the packet's
``generated_at``) and permissions, and file bytes are streamed in blocks,
never held whole. Originals are re-hashed while they are copied: a file that
changed since the packet was assembled stops the bundle instead of shipping
bytes the manifest does not describe.
"""
from __future__ import annotations

import hashlib
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.errors import IntegrityFailure
from core.hashing import digest_stream
from custody.ledger.checkpoint import key_id
from legal_docs.content import PacketContent
from legal_docs.credentials import ContentCredentialSigner, CredentialedCopy
from legal_docs.credentials import verify_instructions as credential_instructions
from legal_docs.manifest import BundleFile, build_manifest, exhibit_file_name, sign_manifest
from legal_docs.render import RenderedPacket, volume_file_name

__all__ = ["BundleResult", "VERIFY_COMMANDS", "verify_instructions", "write_bundle"]

_COMPRESSIBLE = ("text/", "application/json", "audio/wav", "audio/x-wav")

VERIFY_COMMANDS = {
    "key_id": "openssl pkey -pubin -in public_key.pem -outform DER | tail -c 32 | sha256sum",
    "manifest_signature": "openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in manifest.json "
                          "-sigfile manifest.sig",
    "file_hashes": "python3 -c \"import json; [print(f['sha256'] + '  ' + f['path']) for f in "
                   "json.load(open('manifest.json'))['files']]\" | sha256sum -c -",
    "checkpoint_extract": "python3 -c \"import json, base64; c = json.load(open('manifest.json'))['checkpoint']; "
                          "open('checkpoint.txt', 'wb').write(c['body'].encode()); "
                          "open('checkpoint.sig', 'wb').write(base64.b64decode(c['signature']))\"",
    "checkpoint_signature": "openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in checkpoint.txt "
                            "-sigfile checkpoint.sig",
    "timestamp_extract": "python3 -c \"import json, base64; t = json.load(open('manifest.json'))['checkpoint']['timestamp']; "
                         "open('checkpoint.note', 'wb').write(t['note'].encode()); "
                         "open('checkpoint.tst', 'wb').write(base64.b64decode(t['token'])); "
                         "open('tsa-chain.pem', 'w').write(t['chain_pem'])\"",
    "timestamp_verify": "openssl ts -verify -token_in -in checkpoint.tst -data checkpoint.note -CAfile TSA-ROOT.pem "
                        "-untrusted tsa-chain.pem",
    "timestamp_time": "openssl ts -reply -token_in -in checkpoint.tst -token_out -text | grep 'Time stamp'",
}

INCLUSION_SCRIPT = '''import base64, hashlib, json
H = lambda data: hashlib.sha256(data).digest()
m = json.load(open("manifest.json"))
origin, size, root = m["checkpoint"]["body"].split("\\n")[:3]
size, root, failed = int(size), base64.b64decode(root), 0
for ex in m["exhibits"]:
    for ev in ex["custody"]:
        leaf = ev["leaf"].encode()
        h = H(b"\\x00" + leaf)
        ok = h.hex() == ev["leaf_hash"] and json.loads(leaf)["sha256"] == ex["sha256"]
        fn, sn = ev["ledger_index"], size - 1          # RFC 9162 section 2.1.3.2
        for p in map(bytes.fromhex, ev["audit_path"]):
            if sn == 0:
                ok = False
                break
            if fn & 1 or fn == sn:
                h = H(b"\\x01" + p + h)
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
            else:
                h = H(b"\\x01" + h + p)
            fn, sn = fn >> 1, sn >> 1
        ok = ok and sn == 0 and h == root
        failed += not ok
        print("exhibit", ex["number"], "ledger index", ev["ledger_index"], "OK" if ok else "FAILED")
raise SystemExit(1 if failed else 0)
'''


@dataclass(frozen=True)
class BundleResult:
    """The written bundle and the manifest it carries."""

    path: Path
    manifest: bytes
    manifest_sha256: str
    signature: bytes
    files: tuple[BundleFile, ...]


def verify_instructions(content: PacketContent) -> str:
    """VERIFY.md: how to check the bundle with sha256sum, openssl and python3 alone."""
    c = VERIFY_COMMANDS
    return f"""# How to verify this packet

Packet `{content.packet_id}`, case `{content.case.reference}`, prepared by {content.organisation}.
Everything below works offline with `sha256sum`, OpenSSL 3 and Python 3, run in the unzipped bundle.

## 1. The signing key

Compare the key id with one obtained from {content.organisation} through a channel you trust:

    {c['key_id']}

must print `{content.ledger.key_id}` (SHA-256 of the 32 raw Ed25519 public-key bytes).

## 2. The manifest signature

`manifest.sig` is the raw 64-byte Ed25519 signature over the exact bytes of `manifest.json`:

    {c['manifest_signature']}

## 3. Every file

`manifest.json` lists every file of the bundle with its SHA-256 and size (this file included;
`manifest.json`, `manifest.sig` and `public_key.pem` are covered by the signature instead):

    {c['file_hashes']}

## 4. The signed checkpoint

The custody proofs are checked against one signed ledger checkpoint (a C2SP tlog-checkpoint body:
origin, tree size, base64 root hash). Its Ed25519 signature covers the exact body bytes:

    {c['checkpoint_extract']}
    {c['checkpoint_signature']}

## 5. Every custody event

For each exhibit the manifest gives its custody events: the leaf (RFC 8785 canonical JSON), the leaf
hash SHA-256(0x00 || leaf) and an RFC 9162 inclusion proof. Each leaf must name the exhibit's SHA-256,
and hashing up its proof must give the checkpoint's root hash. Save this as `inclusion.py` and run
`python3 inclusion.py`:

```python
{INCLUSION_SCRIPT}```

{_trust_section(content)}
## 7. All at once

    fieldproof verify-bundle BUNDLE.zip --public-key KEY.pem [--tsa-root TSA-ROOT.pem] [--witness-key VKEY ...]

runs every check above, and refuses unsafe archives, without a database, network or configuration.
"""


def _trust_section(content: PacketContent) -> str:
    """Step 6: the trusted time and the witnesses, as far as this packet has them."""
    c, ledger = VERIFY_COMMANDS, content.ledger
    if ledger.timestamp is not None:
        stamp = f"""The checkpoint's signed note was time-stamped under RFC 3161 by {ledger.timestamp.tsa} at
{ledger.timestamp.time.strftime("%Y-%m-%d %H:%M:%S UTC")}. Obtain that authority's root certificate from a source you
trust (save it as `TSA-ROOT.pem`; the chain in the bundle is only there to build the path), then:

    {c['timestamp_extract']}
    {c['timestamp_verify']}
    {c['timestamp_time']}

The stamped note's text must be the checkpoint body of step 4, and the stamp's time must not be
before the newest custody event's time.
"""
    elif ledger.stamp_pending:
        stamp = """The checkpoint was not yet time-stamped when this packet was built (the time-stamping authority
had not answered). The ledger stamps it when the authority answers; the token is then listed with
the checkpoint by `GET /api/v1/ledger/checkpoints` (field `timestamp`) and checks as below against
the checkpoint's signed note.
"""
    else:
        stamp = "The checkpoint carries no RFC 3161 timestamp (no time-stamping authority was configured).\n"
    if ledger.cosignatures:
        witnesses = (f"Witnesses that cosigned the checkpoint (C2SP cosignature/v1): {', '.join(ledger.witnesses)}. "
                     "Obtain each witness's verifier key from the witness itself and pass it to `fieldproof "
                     "verify-bundle --witness-key`; the cosignature lines are in `manifest.json` under "
                     "`checkpoint.cosignatures`, and any C2SP note verifier reads them appended to the note.\n")
    elif ledger.witnessed is not None:
        witnesses = (f"Witnesses that cosigned a later checkpoint of the same log: {', '.join(ledger.witnessed.witnesses)}. "
                     "`manifest.json` gives it under `checkpoint.witnessed` with the RFC 9162 consistency proof that "
                     "it extends this packet's checkpoint; `fieldproof verify-bundle --witness-key` checks both.\n")
    else:
        witnesses = "No witness had cosigned the checkpoint when this packet was built.\n"
    return f"""## 6. Trusted time and witnesses

{stamp}
{witnesses}"""


def _info(name: str, content: PacketContent, compress: bool, size: int) -> zipfile.ZipInfo:
    moment = content.generated_at.utctimetuple()
    info = zipfile.ZipInfo(name, date_time=tuple(moment[:6]))
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o100644 << 16
    info.create_system = 3
    info.file_size = size
    return info


def _write_bytes(archive: zipfile.ZipFile, name: str, data: bytes, content: PacketContent) -> None:
    archive.writestr(_info(name, content, True, len(data)), data)


def _copy_file(archive: zipfile.ZipFile, name: str, source: Path, expected_sha256: str, size: int,
               compress: bool, content: PacketContent) -> None:
    info = _info(name, content, compress, size)
    with open(source, "rb") as reader, archive.open(info, "w", force_zip64=size > 0x7FFF0000) as writer:
        digest = digest_stream(reader, copy_to=writer)
    if digest.sha256_hex != expected_sha256:
        raise IntegrityFailure(f"{source} hashes to {digest.sha256_hex}, not the recorded {expected_sha256}",
                               file=name)


def write_bundle(target: Path | str | BinaryIO, content: PacketContent, rendered: RenderedPacket,
                 private_key: Ed25519PrivateKey, credentials: ContentCredentialSigner | None = None) -> BundleResult:
    """Write the bundle zip: VERIFY.md, manifest, signature, key, PDF volumes, original exhibit files,
    and with ``credentials`` a C2PA-signed copy beside each original image (legal_docs/credentials.py)."""
    with tempfile.TemporaryDirectory(prefix="c2pa-") as scratch:
        copies = credentials.credential_exhibits(content, Path(scratch)) if credentials else {}
        return _write_bundle(target, content, rendered, private_key, copies,
                             credentials.describe() if credentials else None)


def _write_bundle(target: Path | str | BinaryIO, content: PacketContent, rendered: RenderedPacket,
                  private_key: Ed25519PrivateKey, copies: dict[int, CredentialedCopy],
                  credentials_signer: dict[str, str] | None) -> BundleResult:
    raw = private_key.public_key().public_bytes_raw()
    if key_id(raw) != content.ledger.key_id:
        raise ValueError("the manifest signing key is not the key in the packet's ledger snapshot")
    instructions = (verify_instructions(content) + (credential_instructions(content, credentials_signer)
                                                    if copies else "")).encode("utf-8")
    files = [BundleFile("VERIFY.md", hashlib.sha256(instructions).hexdigest(), len(instructions), "document")]
    files += [BundleFile(volume_file_name(content, v.number), v.sha256, v.size, "volume") for v in rendered.volumes]
    files += [BundleFile(exhibit_file_name(e), e.sha256, e.size, "exhibit") for e in content.exhibits]
    files += [BundleFile(c.file, c.sha256, c.size, "credentialed_copy") for c in copies.values()]
    manifest = build_manifest(content, files, rendered.pagination,
                              embedded_manifest_sha256=hashlib.sha256(rendered.embedded_manifest).hexdigest(),
                              credentials=copies, credentials_signer=credentials_signer)
    signature = sign_manifest(private_key, manifest)
    public_pem = private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    with zipfile.ZipFile(target, "w", allowZip64=True) as archive:
        _write_bytes(archive, "VERIFY.md", instructions, content)
        _write_bytes(archive, "manifest.json", manifest, content)
        _write_bytes(archive, "manifest.sig", signature, content)
        _write_bytes(archive, "public_key.pem", public_pem, content)
        for volume in rendered.volumes:
            _copy_file(archive, volume_file_name(content, volume.number), volume.path, volume.sha256, volume.size,
                       False, content)
        for exhibit in content.exhibits:
            _copy_file(archive, exhibit_file_name(exhibit), exhibit.path, exhibit.sha256, exhibit.size,
                       exhibit.media_type.startswith(_COMPRESSIBLE), content)
            if (copy := copies.get(exhibit.number)) is not None:
                _copy_file(archive, copy.file, copy.path, copy.sha256, copy.size, False, content)
    path = Path(target) if isinstance(target, (str, Path)) else Path(getattr(target, "name", "bundle.zip"))
    return BundleResult(path, manifest, hashlib.sha256(manifest).hexdigest(), signature, tuple(files))
