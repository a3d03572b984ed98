"""The packet manifest: what the packet holds, every file's hash, and the proofs that tie each
exhibit to the signed custody ledger.

RFC 8785 canonical JSON, so one packet has one manifest byte string: nothing
in it comes from the clock, the file system or dict order, only from the
inputs. The detached Ed25519 signature covers exactly those bytes.
"""
from __future__ import annotations

import base64
import mimetypes
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.canonical import canonical_json
from legal_docs.bates import bates_number
from legal_docs.content import Exhibit, PacketContent

__all__ = [
    "MANIFEST_FORMAT",
    "BundleFile",
    "ExhibitPlacement",
    "Pagination",
    "VolumePlacement",
    "build_manifest",
    "exhibit_file_name",
    "sign_manifest",
]

MANIFEST_FORMAT = "fieldproof-packet-manifest/1"
_EXTENSIONS = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/heic": ".heic", "image/webp": ".webp",
    "audio/mp4": ".m4a", "audio/mpeg": ".mp3", "audio/aac": ".aac", "audio/wav": ".wav",
    "audio/x-wav": ".wav", "audio/ogg": ".ogg", "application/pdf": ".pdf", "text/plain": ".txt",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class BundleFile:
    """One file of the bundle as the manifest lists it."""

    path: str
    sha256: str
    size: int
    role: str


@dataclass(frozen=True)
class ExhibitPlacement:
    """Where an exhibit landed: its volume and its Bates page numbers."""

    number: int
    volume: int
    first: int
    last: int


@dataclass(frozen=True)
class VolumePlacement:
    """One PDF volume: its file name, page count and Bates numbers."""

    number: int
    file_name: str
    pages: int
    first: int
    last: int


@dataclass(frozen=True)
class Pagination:
    """The page layout a render produced, so the manifest can state it."""

    exhibits: tuple[ExhibitPlacement, ...]
    volumes: tuple[VolumePlacement, ...]


def exhibit_file_name(exhibit: Exhibit) -> str:
    """The bundle path of an exhibit's file: number first so a directory listing is in exhibit order."""
    extension = _EXTENSIONS.get(exhibit.media_type) or mimetypes.guess_extension(exhibit.media_type) or ".bin"
    return f"exhibits/{exhibit.number:03d}_{_UNSAFE.sub('_', exhibit.evidence_id)}{extension}"


def _custody(exhibit: Exhibit) -> list[dict[str, Any]]:
    return [
        {
            "ledger_index": event.index,
            "type": event.type,
            "at": event.at,
            "actor": event.actor,
            "leaf": event.leaf.decode("utf-8"),
            "leaf_hash": event.leaf_hash,
            "audit_path": list(event.audit_path),
        }
        for event in exhibit.custody
    ]


def _exhibit(content: PacketContent, exhibit: Exhibit, placement: ExhibitPlacement | None,
             credentialed: Any = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "number": exhibit.number,
        "evidence_id": exhibit.evidence_id,
        "title": exhibit.title,
        "kind": exhibit.kind,
        "media_type": exhibit.media_type,
        "file": exhibit_file_name(exhibit),
        "sha256": exhibit.sha256,
        "size": exhibit.size,
        "captured_at": exhibit.captured_at.isoformat(),
        "derived_from": exhibit.derived_from,
        "custody": _custody(exhibit),
    }
    if credentialed is not None:  # legal_docs.credentials.CredentialedCopy: the C2PA-signed copy beside it
        entry["content_credentials"] = {"file": credentialed.file, "sha256": credentialed.sha256,
                                        "size": credentialed.size, "original_sha256": credentialed.original_sha256}
    if placement is not None:
        entry.update(
            volume=placement.volume,
            bates_first=bates_number(content.bates_prefix, placement.first),
            bates_last=bates_number(content.bates_prefix, placement.last),
        )
    return entry


def build_manifest(content: PacketContent, files: Sequence[BundleFile], pagination: Pagination | None = None,
                   *, embedded_manifest_sha256: str | None = None,
                   credentials: Mapping[int, Any] | None = None,
                   credentials_signer: Mapping[str, str] | None = None) -> bytes:
    """The canonical manifest bytes for ``content`` and the bundle's ``files``.

    The copy embedded in the PDF volumes cannot list the volumes' own hashes,
    so it is built with the exhibit files only; the bundle's copy adds the
    volumes and names the embedded copy's hash, which ties the two together.
    ``credentials`` (by exhibit number) are the C2PA-signed copies of image exhibits, and
    ``credentials_signer`` names the certificate that signed them (SHA-256 fingerprint, serial, subject).
    """
    credentials = credentials or {}
    placements = {p.number: p for p in pagination.exhibits} if pagination else {}
    checkpoint = content.ledger.parsed
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "packet": {
            "id": content.packet_id,
            "language": content.language,
            "jurisdiction": content.jurisdiction,
            "bates_prefix": content.bates_prefix,
            "organisation": content.organisation,
            "case_reference": content.case.reference,
            "generated_at": content.generated_at.isoformat(),
        },
        "hashing": {
            "files": "sha256",
            "leaf_hash": "sha256(0x00 || leaf utf-8 bytes), RFC 9162 section 2.1",
            "node_hash": "sha256(0x01 || left || right), RFC 9162 section 2.1",
            "signature": "ed25519 over the exact manifest.json bytes, raw 64 bytes in manifest.sig",
        },
        "files": [
            {"path": f.path, "sha256": f.sha256, "size": f.size, "role": f.role}
            for f in sorted(files, key=lambda f: f.path)
        ],
        "exhibits": [_exhibit(content, e, placements.get(e.number), credentials.get(e.number))
                     for e in content.exhibits],
        "withheld": [
            {"evidence_id": w.evidence_id, "kind": w.kind, "sha256": w.sha256, "reason": w.reason,
             "replaced_by_exhibit": w.replaced_by_exhibit}
            for w in content.withheld
        ],
        "checkpoint": {
            "body": content.ledger.checkpoint.decode("utf-8"),
            "signature": base64.b64encode(content.ledger.signature).decode("ascii"),
            "key_id": content.ledger.key_id,
            "origin": checkpoint.origin,
            "tree_size": checkpoint.tree_size,
            "root_hash": checkpoint.root_hash_hex,
        },
        "signing_key": {"algorithm": "ed25519", "key_id": content.ledger.key_id, "file": "public_key.pem"},
    }
    stamp = content.ledger.timestamp
    if stamp is not None:
        manifest["checkpoint"]["timestamp"] = {
            "format": "RFC 3161 TimeStampToken (DER, base64) over the exact bytes of `note`",
            "note": stamp.note.decode("utf-8"),
            "token": base64.b64encode(stamp.token).decode("ascii"),
            "tsa": stamp.tsa,
            "time": stamp.time.isoformat(),
            "chain_pem": stamp.chain_pem,
        }
    if content.ledger.cosignatures:
        manifest["checkpoint"]["cosignatures"] = list(content.ledger.cosignatures)
    witnessed = content.ledger.witnessed
    if witnessed is not None:
        manifest["checkpoint"]["witnessed"] = {
            "about": "a later checkpoint of the same log that witnesses cosigned, and the RFC 9162 consistency "
                     "proof that it extends this checkpoint",
            "note": witnessed.note.decode("utf-8"),
            "cosignatures": list(witnessed.cosignatures),
            "consistency_proof": list(witnessed.consistency_proof),
        }
    if pagination is not None:
        manifest["volumes"] = [
            {"number": v.number, "file": v.file_name, "pages": v.pages,
             "bates_first": bates_number(content.bates_prefix, v.first),
             "bates_last": bates_number(content.bates_prefix, v.last)}
            for v in pagination.volumes
        ]
    if embedded_manifest_sha256 is not None:
        manifest["embedded_manifest_sha256"] = embedded_manifest_sha256
    if credentials_signer is not None:
        manifest["content_credentials"] = {"format": "C2PA", **credentials_signer}
    return canonical_json(manifest)


def sign_manifest(private_key: Ed25519PrivateKey, manifest: bytes) -> bytes:
    """Raw 64-byte Ed25519 signature over the manifest bytes (``openssl pkeyutl -verify -rawin`` reads it)."""
    return private_key.sign(bytes(manifest))
