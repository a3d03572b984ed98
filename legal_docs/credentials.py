"""Content credentials: a signed C2PA manifest on every image a packet bundle exports.

A C2PA-aware viewer (Content Credentials, a newsroom's or a court's tool) shows who vouched for a
picture, when and where it was captured and whether it was edited, and notices any change to its
pixels. The bundle therefore ships, for each image exhibit, two files:

- ``exhibits/NNN_<id>.jpg``: the exact bytes captured and sealed, unchanged. Its SHA-256 is the
  one every custody leaf names; this is the evidence, and what hash verification is done on.
- ``exhibits/NNN_<id>.c2pa.jpg``: a copy carrying the organisation's C2PA manifest (capture
  facts, the original's SHA-256, and for a redacted derivative the redaction and its original as
  a ``parentOf`` ingredient). Embedding a manifest changes the file's bytes, so the copy can never
  be the evidence itself: it is a presentation copy that proves itself to C2PA tools and points
  back to the original by hash. Its own SHA-256 is listed in the bundle manifest beside the
  original's, so the Ed25519-signed manifest covers it too.

The stored originals are never touched: copies are made only while a bundle is written.

C2PA's own ``c2pa.redacted`` action means removing assertions from an ingredient's manifest and
must point at the removed assertion (c2pa-rs refuses it otherwise with
``assertion.action.redactionMismatch``). A redacted *picture* is an edit: it is recorded as
``c2pa.opened`` of the original followed by ``c2pa.edited``, and named by the
``org.fieldproof.redaction`` assertion (the original's evidence id and SHA-256 and the reason).

Manifests are signed with the organisation's certificate (``core.keys.load_content_credentials``)
and no time-stamping authority: nothing leaves the machine while a packet is built.
"""
from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import c2pa

from core.errors import IntegrityFailure
from core.hashing import digest_stream
from core.keys import ContentCredentialKey
from legal_docs.content import Exhibit, PacketContent
from legal_docs.manifest import exhibit_file_name

__all__ = [
    "CAPTURE_LABEL",
    "CREDENTIAL_MEDIA_TYPES",
    "REDACTION_LABEL",
    "ContentCredentialSigner",
    "CredentialReading",
    "CredentialedCopy",
    "credential_problems",
    "credentialed_file_name",
    "manifest_definition",
    "original_sha256",
    "read_credentials",
    "verify_instructions",
]

CAPTURE_LABEL = "org.fieldproof.capture"
REDACTION_LABEL = "org.fieldproof.redaction"
# Image formats c2pa-rs embeds manifests in (exhibits of other kinds are shipped as they are).
CREDENTIAL_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic", "image/heif",
                                    "image/avif", "image/tiff", "image/gif"})
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
CLAIM_GENERATOR = "FieldProof"
# Read states of c2pa-rs: "Trusted" (chains to a pinned anchor), "Valid" (signature, hard binding and
# assertions check out; the signer is not on the reader's trust list), "Invalid" (anything failed).
SOUND_STATES = ("Valid", "Trusted")
UNTRUSTED = "signingCredential.untrusted"


@dataclass(frozen=True)
class CredentialedCopy:
    """A credentialed copy of one exhibit, written to a scratch file, ready for the bundle."""

    number: int
    file: str
    path: Path
    sha256: str
    size: int
    original_sha256: str


def credentialed_file_name(exhibit: Exhibit) -> str:
    """``exhibits/001_ev.jpg`` → ``exhibits/001_ev.c2pa.jpg``: beside its original in a listing."""
    stem, dot, extension = exhibit_file_name(exhibit).rpartition(".")
    return f"{stem}.c2pa.{extension}"


def original_sha256(content: PacketContent, exhibit: Exhibit) -> str:
    """The SHA-256 of the captured original: the exhibit's own, or for a derivative its withheld original's."""
    if exhibit.derived_from is None:
        return exhibit.sha256
    for item in content.withheld:
        if item.evidence_id == exhibit.derived_from:
            return item.sha256
    raise ValueError(f"exhibit {exhibit.number} is derived from {exhibit.derived_from}, which the packet "
                     "does not list")


def _withheld_reason(content: PacketContent, exhibit: Exhibit) -> str:
    return next((w.reason for w in content.withheld if w.evidence_id == exhibit.derived_from), "")


def manifest_definition(content: PacketContent, exhibit: Exhibit) -> dict[str, Any]:
    """The C2PA manifest definition for an exhibit: what the copy's manifest will assert.

    The capture facts are those the packet itself prints beside the exhibit (time, place to six
    decimals, collector, device), so the credential discloses nothing the packet does not.
    """
    original = original_sha256(content, exhibit)
    capture: dict[str, Any] = {
        "organisation": content.organisation,
        "packet_id": content.packet_id,
        "case_reference": content.case.reference,
        "exhibit": exhibit.number,
        "evidence_id": exhibit.evidence_id,
        "kind": exhibit.kind,
        "captured_at": exhibit.captured_at.isoformat(),
        "captured_local": exhibit.captured_local.isoformat(),
        "zone": exhibit.zone,
        "collector": exhibit.collector,
        "device": exhibit.device,
        "latitude": exhibit.lat,
        "longitude": exhibit.lon,
        "sha256": exhibit.sha256,
        "original_sha256": original,
    }
    definition: dict[str, Any] = {
        "claim_generator_info": [{"name": CLAIM_GENERATOR}],
        "title": exhibit_file_name(exhibit).rsplit("/", 1)[-1],
        "format": exhibit.media_type,
        "instance_id": f"urn:fieldproof:{content.packet_id}:exhibit:{exhibit.number}",
        "assertions": [{"label": CAPTURE_LABEL, "data": capture}],
    }
    if exhibit.derived_from is None:
        actions = [{"action": "c2pa.created", "digitalSourceType": DIGITAL_CAPTURE,
                    "when": exhibit.captured_at.isoformat()}]
    else:
        reason = exhibit.redaction_reason
        definition["ingredients"] = [{
            "title": exhibit.derived_from, "format": exhibit.media_type, "relationship": "parentOf",
            "instance_id": f"urn:fieldproof:evidence:{exhibit.derived_from}:sha256:{original}", "label": "original",
        }]
        actions = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["original"]}},
                   {"action": "c2pa.edited", "description": f"Redacted: {reason}" if reason else "Redacted"}]
        definition["assertions"].append({"label": REDACTION_LABEL, "data": {
            "original_evidence_id": exhibit.derived_from, "original_sha256": original,
            "redacted_evidence_id": exhibit.evidence_id, "redacted_sha256": exhibit.sha256, "reason": reason,
            "original_withheld_because": _withheld_reason(content, exhibit)}})
    definition["assertions"].insert(0, {"label": "c2pa.actions.v2", "data": {"actions": actions}})
    return definition


class ContentCredentialSigner:
    """Signs exported copies with the organisation's certificate; one per bundle being written."""

    def __init__(self, key: ContentCredentialKey):
        self.key = key

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint

    def describe(self) -> dict[str, str]:
        """The signing certificate as the bundle manifest names it; a reader reports the same serial."""
        certificate = self.key.certificate
        return {"certificate_sha256": self.key.fingerprint, "certificate_serial": str(certificate.serial_number),
                "certificate_subject": certificate.subject.rfc4514_string()}

    def credential(self, content: PacketContent, exhibit: Exhibit, source: BinaryIO, destination: BinaryIO) -> None:
        """Write ``source`` (the exhibit's bytes) to ``destination`` with a signed C2PA manifest."""
        info = c2pa.C2paSignerInfo(alg=self.key.algorithm.encode("ascii"), sign_cert=self.key.chain_pem,
                                   private_key=self.key.private_key_pem, ta_url=None)
        # No thumbnail: a derivative's manifest must never carry a picture of its withheld original.
        with c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}}) as context, \
                c2pa.Signer.from_info(info) as signer, \
                c2pa.Builder(manifest_definition(content, exhibit), context) as builder:
            builder.sign(signer, exhibit.media_type, source, destination)

    def credential_exhibits(self, content: PacketContent, scratch: Path) -> dict[int, CredentialedCopy]:
        """Credentialed copies of every image exhibit, written under ``scratch``, by exhibit number.

        Each original is re-hashed before it is signed, so a copy is never made of bytes the custody
        ledger does not describe; files are streamed, never held whole.
        """
        copies: dict[int, CredentialedCopy] = {}
        for exhibit in content.exhibits:
            if exhibit.media_type not in CREDENTIAL_MEDIA_TYPES:
                continue
            with open(exhibit.path, "rb") as source:
                if digest_stream(source).sha256_hex != exhibit.sha256:
                    raise IntegrityFailure(f"{exhibit.path} no longer hashes to the recorded {exhibit.sha256}",
                                           file=exhibit_file_name(exhibit))
                source.seek(0)
                path = scratch / f"{exhibit.number:06d}.c2pa"
                with open(path, "w+b") as out:
                    self.credential(content, exhibit, source, out)
                    out.seek(0)
                    copied = digest_stream(out)
            copies[exhibit.number] = CredentialedCopy(exhibit.number, credentialed_file_name(exhibit), path,
                                                      copied.sha256_hex, copied.size, original_sha256(content, exhibit))
        return copies


def verify_instructions(content: PacketContent, signer: Mapping[str, str]) -> str:
    """The VERIFY.md section on content credentials, added when the bundle carries credentialed copies."""
    return f"""
## 8. Content credentials

Each image exhibit is shipped twice: `exhibits/NNN_<id>.jpg` is the original exactly as captured
(the file the custody proofs name), and `exhibits/NNN_<id>.c2pa.jpg` a copy carrying a C2PA manifest
signed with {content.organisation}'s certificate `{signer['certificate_subject']}` (serial
{signer['certificate_serial']}, SHA-256 fingerprint `{signer['certificate_sha256']}`).
Step 3 checks both files' hashes. Any C2PA tool reads the copy (`c2patool FILE`), or Python with
the `c2pa-python` package:

    python3 -c "import c2pa, sys; r = c2pa.Reader(sys.argv[1]); print(r.get_validation_state(), r.json())" FILE

`Valid` means the signature and the image bytes check out but the signer is not on your trust list
(the only failure listed is `signingCredential.untrusted`); `Trusted` that it also chains to a root
you trust. Its `org.fieldproof.capture` assertion names the original's SHA-256 (`original_sha256`),
which must equal the exhibit's `content_credentials.original_sha256` in `manifest.json`: the
exhibit's own hash, or for a redacted copy its withheld original's, which the copy also names as its
`parentOf` ingredient with the redaction in `org.fieldproof.redaction`.
"""


@dataclass(frozen=True)
class CredentialReading:
    """What c2pa's Reader found in one file: its validation state, failure codes and active manifest."""

    state: str | None
    failures: tuple[str, ...]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def sound(self) -> bool:
        """Signature, hard binding and every assertion check out; the signer may be untrusted."""
        return self.state in SOUND_STATES and all(code == UNTRUSTED for code in self.failures)

    def assertion(self, label: str) -> dict[str, Any] | None:
        return next((a.get("data") for a in self.manifest.get("assertions", []) if a.get("label") == label), None)

    @property
    def actions(self) -> list[str]:
        data = self.assertion("c2pa.actions.v2") or self.assertion("c2pa.actions") or {}
        return [a.get("action") for a in data.get("actions", [])]

    @property
    def original_sha256(self) -> str | None:
        return (self.assertion(CAPTURE_LABEL) or {}).get("original_sha256")


def read_credentials(data: bytes | BinaryIO, media_type: str,
                     trust_anchors_pem: bytes | None = None) -> CredentialReading:
    """Validate a file's C2PA manifest with c2pa's Reader; ``trust_anchors_pem`` pins the organisation's root.

    A file without a manifest, or one c2pa cannot parse, reads as state ``None`` with the error.
    """
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_anchors_pem is not None:
        settings["trust"] = {"trust_anchors": trust_anchors_pem.decode("ascii")}
    try:
        with c2pa.Context.from_dict(settings) as context, \
                c2pa.Reader(media_type, io.BytesIO(data) if isinstance(data, bytes) else data,
                            context=context) as reader:
            store = json.loads(reader.json())
            state = reader.get_validation_state()
    except c2pa.C2paError as error:
        return CredentialReading(None, (f"unreadable: {error}",))
    active = store.get("manifests", {}).get(store.get("active_manifest"), {})
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = tuple(f.get("code", "") for f in results.get("failure", []))
    failures += tuple(s.get("code", "") for s in store.get("validation_status", []) if s.get("code") not in failures)
    return CredentialReading(state, failures, active)


def credential_problems(exhibit: Mapping[str, Any], listed: Mapping[str, Mapping[str, Any]],
                        withheld: Mapping[str, str], signer: Mapping[str, Any], read: Any) -> list[tuple[str, str]]:
    """(code, message) for an exhibit's credentialed copy as a bundle manifest describes it.

    ``withheld`` maps the bundle's withheld evidence ids to their SHA-256, ``signer`` is the bundle
    manifest's ``content_credentials`` section (the certificate that must have signed); ``read(path)`` opens the
    copy in the bundle as a seekable binary stream (c2pa streams it: a copy is never held whole).
    The copy must be listed with the stated hash, its C2PA manifest must validate (signature and
    hard binding; trust in the signer is judged by the reader, not here), and it must name the
    original's SHA-256: the exhibit's own, or its withheld original's.
    """
    section = exhibit.get("content_credentials")
    if not section:
        return []
    if not isinstance(section, dict) or not isinstance(section.get("file"), str):
        return [("credentials_malformed", "its content_credentials entry is not an object naming a file")]
    entry = listed.get(section["file"])
    if entry is None or (entry.get("sha256"), entry.get("size")) != (section.get("sha256"), section.get("size")):
        return [("credentials_file_mismatch", f"its credentialed copy {section.get('file')!r} is not listed with "
                 "the stated hash and size")]
    try:
        with read(section["file"]) as stream:
            reading = read_credentials(stream, str(exhibit.get("media_type")))
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        return [("credentials_unreadable", f"its credentialed copy {section['file']!r} cannot be read: {error}")]
    problems = []
    serial = (reading.manifest.get("signature_info") or {}).get("cert_serial_number")
    if reading.state is not None and serial != signer.get("certificate_serial"):
        problems.append(("credentials_signer_mismatch", f"the C2PA manifest of {section['file']!r} is signed by "
                         f"certificate serial {serial}, the bundle manifest names {signer.get('certificate_serial')}"))
    if not reading.sound:
        problems.append(("credentials_invalid", f"the C2PA manifest of {section['file']!r} does not validate: "
                         f"{reading.state}, {', '.join(c for c in reading.failures if c != UNTRUSTED)}"))
    expected = section.get("original_sha256")
    derived_from = exhibit.get("derived_from")
    if expected != (exhibit.get("sha256") if derived_from is None else withheld.get(derived_from)):
        problems.append(("credentials_original_mismatch", "the credentialed copy names another original than "
                         "the exhibit's file"))
    if reading.original_sha256 != expected:
        problems.append(("credentials_original_mismatch", f"the C2PA manifest of {section['file']!r} names "
                         f"original {reading.original_sha256}, the bundle manifest {expected}"))
    return problems
