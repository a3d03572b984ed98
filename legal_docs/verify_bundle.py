"""The offline packet verifier: a bundle zip in, a precise report out.

No database, network, settings or Flask: only the zip, an optional pinned
key, and the pure ledger verifier primitives (``custody.ledger``), which the
server's own verification job uses too, so both judge evidence alike.

The archive is inspected before a byte is decompressed: unsafe names
(absolute, ``..``, backslashes, drive letters), duplicates, symlinks,
encryption, unknown compression, declared sizes and compression ratios over
the limits all refuse the bundle outright. Every read is then capped at the
entry's declared size, so a lying header cannot inflate past it.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from custody.ledger.checkpoint import SignedCheckpoint, key_id, parse_signed_note, verify_checkpoint_signature
from custody.ledger.merkle import hash_from_hex, verify_consistency
from custody.ledger.tiles import TILE_WIDTH, Tile, TileReader, parse_entry_bundle, tile_width
from custody.ledger.verify import (
    Failure,
    VerificationError,
    VerificationResult,
    verify_event,
)
from legal_docs.credentials import credential_problems

__all__ = ["BundleLimits", "BundleReport", "FetchFile", "TilesUnreadable", "directory_tiles", "format_report",
           "verify_bundle"]

MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "public_key.pem"
_SIGNED_BY_MANIFEST = {MANIFEST, SIGNATURE, PUBLIC_KEY}
_BLOCK = 1 << 20


@dataclass(frozen=True)
class BundleLimits:
    """What a bundle may declare before it is refused unread."""

    max_entries: int = 100_000
    max_entry_bytes: int = 8 << 30
    max_total_bytes: int = 32 << 30
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 1 << 20
    max_small_file_bytes: int = 64 << 20


@dataclass
class BundleReport:
    """Everything found; ``ok`` only when nothing was."""

    bundle: str
    failures: list[Failure] = field(default_factory=list)
    key_id: str | None = None
    key_pinned: bool = False
    files_checked: int = 0
    events_checked: int = 0
    exhibits: int = 0
    credentials_checked: int = 0
    tiles: str | None = None
    tiles_tree_size: int | None = None
    tiles_events_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures

    def problem(self, subject: str, code: str, message: str) -> None:
        self.failures.append(Failure(subject=subject, problem=code, message=message))


def _unsafe_name(name: str) -> str | None:
    if not name or name.endswith("/"):
        return "is a directory or empty"
    if "\\" in name or "\x00" in name:
        return "contains a backslash or NUL"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    # Split by hand: PurePosixPath would normalise "a/./b" and "a//b" away before we saw them.
    if any(part in ("..", ".", "") for part in name.split("/")):
        return "has a '..' or '.' path segment"
    return None


def _screen(archive: zipfile.ZipFile, limits: BundleLimits, report: BundleReport) -> dict[str, zipfile.ZipInfo]:
    """Refuse unsafe archives from their central directory alone."""
    entries: dict[str, zipfile.ZipInfo] = {}
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        report.problem("bundle", "too_many_entries", f"{len(infos)} entries, more than {limits.max_entries}")
        return entries
    total = 0
    # Entries that share or overlap compressed bytes (one deflate kernel named thousands of times)
    # are a zip bomb's trick; a bundle we wrote never has them.
    spans = sorted((info.header_offset, info.header_offset + 30 + len(info.orig_filename) + info.compress_size,
                    info.filename) for info in infos)
    for (_, end, name), (next_start, _, next_name) in zip(spans, spans[1:]):
        if next_start < end:
            report.problem(next_name, "overlapping_entries", f"entry {next_name!r} overlaps the bytes of {name!r}")
            return entries
    for info in infos:
        name = info.filename
        reason = _unsafe_name(name)
        if reason:
            report.problem(name, "unsafe_path", f"entry name {name!r} {reason}")
            continue
        if name in entries:
            report.problem(name, "duplicate_entry", f"entry {name!r} appears more than once")
            continue
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_ISLNK(mode):
            report.problem(name, "symlink_entry", f"entry {name!r} is a symbolic link")
            continue
        if info.flag_bits & 0x1:
            report.problem(name, "encrypted_entry", f"entry {name!r} is encrypted")
            continue
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            report.problem(name, "unsupported_compression", f"entry {name!r} uses method {info.compress_type}")
            continue
        if info.file_size > limits.max_entry_bytes:
            report.problem(name, "entry_too_large", f"entry {name!r} declares {info.file_size} bytes")
            continue
        if (info.file_size > limits.ratio_floor_bytes
                and info.file_size > limits.max_ratio * max(info.compress_size, 1)):
            report.problem(name, "compression_ratio", f"entry {name!r} expands {info.compress_size} bytes to "
                           f"{info.file_size}, past a ratio of {limits.max_ratio:g}")
            continue
        total += info.file_size
        entries[name] = info
    if total > limits.max_total_bytes:
        report.problem("bundle", "bundle_too_large", f"entries declare {total} bytes, more than "
                       f"{limits.max_total_bytes}")
    return entries


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    """Read a small entry whole, never past its declared size or ``cap``."""
    if info.file_size > cap:
        raise ValueError(f"{info.filename} is {info.file_size} bytes, more than {cap}")
    with archive.open(info) as handle:
        data = handle.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise ValueError(f"{info.filename} holds {len(data)} bytes but declares {info.file_size}")
    return data


def _hash_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, int]:
    digest, count = hashlib.sha256(), 0
    with archive.open(info) as handle:
        while count <= info.file_size and (block := handle.read(_BLOCK)):
            digest.update(block)
            count += len(block)
    return digest.hexdigest(), count


def _load_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def _check_files(archive, entries, manifest, report: BundleReport) -> dict[str, dict]:
    listed: dict[str, dict] = {}
    for entry in manifest.get("files", []):
        path = entry.get("path")
        if path in listed:
            report.problem(str(path), "duplicate_manifest_entry", f"{path!r} is listed twice in the manifest")
            continue
        listed[path] = entry
        info = entries.get(path)
        if info is None:
            report.problem(str(path), "file_missing", f"{path!r} is in the manifest but not in the bundle")
            continue
        try:
            actual, size = _hash_entry(archive, info)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, zipfile.LargeZipFile) as error:
            report.problem(path, "file_unreadable", f"{path!r} cannot be read: {error}")
            continue
        report.files_checked += 1
        if size != entry.get("size"):
            report.problem(path, "size_mismatch", f"{path!r} is {size} bytes, the manifest says {entry.get('size')}")
        if actual != entry.get("sha256"):
            report.problem(path, "hash_mismatch", f"{path!r} hashes to {actual}, the manifest says {entry.get('sha256')}")
    for name in entries:
        if name not in listed and name not in _SIGNED_BY_MANIFEST:
            report.problem(name, "unlisted_file", f"{name!r} is in the bundle but not in the manifest")
    return listed


def _signed_checkpoint(manifest: dict, public_key, report: BundleReport) -> tuple[SignedCheckpoint | None, str | None]:
    section = manifest.get("checkpoint") or {}
    try:
        body = str(section["body"]).encode("utf-8")
        signature = base64.b64decode(str(section["signature"]), validate=True)
        checkpoint = verify_checkpoint_signature(public_key, body, signature)
    except (KeyError, binascii.Error) as error:
        report.problem("checkpoint", "checkpoint_malformed", f"manifest checkpoint is incomplete: {error}")
        return None, None
    except VerificationError as error:
        report.problem("checkpoint", error.code, str(error))
        return None, None
    stated = (section.get("origin"), section.get("tree_size"), section.get("root_hash"))
    if stated != (checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash_hex):
        report.problem("checkpoint", "checkpoint_fields_mismatch",
                       "the manifest's origin, tree size or root hash differ from the signed checkpoint body")
    return SignedCheckpoint(checkpoint, signature), checkpoint.origin


def _check_exhibits(manifest: dict, listed: dict[str, dict], signed: SignedCheckpoint | None, origin: str | None,
                    public_key, report: BundleReport) -> None:
    exhibits = manifest.get("exhibits", [])
    report.exhibits = len(exhibits)
    prefix = (manifest.get("packet") or {}).get("bates_prefix", "")
    volumes = {v.get("number"): v for v in manifest.get("volumes", [])}
    previous_last, previous_volume = 0, 0
    results = VerificationResult()
    for position, exhibit in enumerate(exhibits, 1):
        subject = f"exhibit {exhibit.get('number')}"
        if exhibit.get("number") != position:
            report.problem(subject, "exhibit_numbering", f"exhibit at position {position} is numbered "
                           f"{exhibit.get('number')}")
        entry = listed.get(exhibit.get("file"))
        if entry is None:
            report.problem(subject, "exhibit_file_missing", f"its file {exhibit.get('file')!r} is not in the manifest")
        elif (entry.get("sha256"), entry.get("size")) != (exhibit.get("sha256"), exhibit.get("size")):
            report.problem(subject, "exhibit_hash_mismatch", f"its file {exhibit.get('file')!r} is listed with "
                           "another hash or size than the exhibit")
        first, last = _bates(prefix, exhibit.get("bates_first")), _bates(prefix, exhibit.get("bates_last"))
        volume = exhibit.get("volume")
        if first is None or last is None or first > last or first <= previous_last or volume not in volumes \
                or volume < previous_volume:
            report.problem(subject, "exhibit_order", "its Bates range or volume is missing, out of order or "
                           "overlaps the exhibit before it")
        else:
            v = volumes[volume]
            if not (_bates(prefix, v.get("bates_first")) or 0) <= first <= last <= (_bates(prefix, v.get("bates_last")) or 0):
                report.problem(subject, "exhibit_volume_range", f"its pages lie outside volume {volume}")
            previous_last, previous_volume = last, volume
        custody = exhibit.get("custody") or []
        if not custody:
            report.problem(subject, "custody_missing", "the exhibit has no custody events")
        if signed is None:
            continue
        for event in custody:
            event_subject = f"{subject} custody #{event.get('ledger_index')}"
            report.events_checked += 1
            try:
                leaf = str(event["leaf"]).encode("utf-8")
                results.check(event_subject, verify_event, leaf=leaf,
                              leaf_hash=hash_from_hex(event["leaf_hash"], name="leaf_hash"),
                              ledger_index=event["ledger_index"],
                              audit_path=[hash_from_hex(node, name="audit_path") for node in event["audit_path"]],
                              signed_checkpoint=signed, public_key=public_key, origin=origin,
                              evidence_sha256=exhibit.get("sha256"))
                fields = json.loads(leaf)
            except (KeyError, TypeError, ValueError) as error:
                report.problem(event_subject, "custody_malformed", f"custody event is malformed: {error}")
                continue
            if fields.get("evidence_id") != exhibit.get("evidence_id"):
                report.problem(event_subject, "custody_evidence_mismatch",
                               f"the leaf is about {fields.get('evidence_id')!r}, not {exhibit.get('evidence_id')!r}")
            if (fields.get("type"), fields.get("at"), fields.get("actor_id")) != \
                    (event.get("type"), event.get("at"), event.get("actor")):
                report.problem(event_subject, "custody_summary_mismatch",
                               "the event's type, time or actor differ from its leaf")
    report.failures.extend(results.failures)


# --- against the log as published in tiles ------------------------------------------------------

FetchFile = Callable[[str], bytes]
"""Reads one file of a tlog-tiles copy by its path (``checkpoint``, ``tile/0/000``, ...);
raises ``TilesUnreadable`` (or OSError) when it cannot."""

MAX_TILE_FILE_BYTES = 2 << 20  # a full entry bundle of 256 leaves; a tile is 8 KiB


class TilesUnreadable(Exception):
    """A file of the tiles copy is missing or cannot be read."""


def directory_tiles(root: Path | str) -> FetchFile:
    """Reads a directory that ``fieldproof ledger export-tiles`` wrote (or a mirror of one)."""
    base = Path(root)

    def fetch(path: str) -> bytes:
        if _unsafe_name(path):
            raise TilesUnreadable(f"{path!r} is not a tile path")
        target = base / path
        try:
            if target.stat().st_size > MAX_TILE_FILE_BYTES:
                raise TilesUnreadable(f"{path} is larger than any tile")
            return target.read_bytes()
        except OSError as error:
            raise TilesUnreadable(f"{path}: {error.strerror or error}") from None
    return fetch


def _check_tiles(manifest: dict, signed: SignedCheckpoint, public_keys: list, fetch: FetchFile,
                 report: BundleReport) -> None:
    """The bundle against the log as published: the tiles' checkpoint is signed by the bundle's
    key (or, after a key rotation, by the ledger key given for the tiles), is for the same log,
    and extends the bundle's (a consistency proof computed from the tiles); and every custody
    event's leaf hash, leaf bytes and audit path are the ones recomputed from the tiles alone.

    So a bundle cannot carry proofs of a log that was never published, or one rewritten since.
    """
    def problem(code: str, message: str, subject: str = "tiles") -> None:
        report.problem(subject, code, message)

    try:
        note = fetch("checkpoint")
    except (TilesUnreadable, OSError) as error:
        return problem("tiles_unreadable", f"the tiles' checkpoint cannot be read: {error}")
    published, refusal = None, None
    for candidate in public_keys:
        try:
            published = parse_signed_note(note, candidate, signed.checkpoint.origin)
            break
        except VerificationError as error:
            refusal = error
    if published is None:
        return problem(refusal.code, f"the tiles' checkpoint does not verify with the ledger key: {refusal}")
    if published.checkpoint.origin != signed.checkpoint.origin:
        return problem("origin_mismatch", f"the tiles are of log {published.checkpoint.origin!r}, the bundle's "
                       f"checkpoint of {signed.checkpoint.origin!r}")
    size = published.checkpoint.tree_size
    report.tiles_tree_size = size
    reader = TileReader(lambda tile: fetch(tile.path), size)
    bundles: dict[int, list[bytes]] = {}
    try:
        if reader.root() != published.checkpoint.root_hash:
            return problem("tiles_root_mismatch", f"the tiles do not give the root of their own checkpoint "
                           f"(tree size {size})")
        bundle_size = signed.checkpoint.tree_size
        if size < bundle_size:
            return problem("tree_size_regressed", f"the published log has {size} leaves, fewer than the "
                           f"{bundle_size} the bundle's checkpoint covers")
        verify_consistency(bundle_size, size, reader.consistency_proof(bundle_size), signed.checkpoint.root_hash,
                           published.checkpoint.root_hash)
        for exhibit in manifest.get("exhibits", []):
            for event in exhibit.get("custody") or []:
                index = event.get("ledger_index")
                subject = f"exhibit {exhibit.get('number')} custody #{index}"
                if not isinstance(index, int) or not 0 <= index < bundle_size:
                    continue  # already reported by the proof checks
                leaf = str(event.get("leaf", "")).encode("utf-8")
                number = index // TILE_WIDTH
                if number not in bundles:
                    bundles[number] = parse_entry_bundle(fetch(Tile(None, number, tile_width(0, number, size)).path),
                                                         tile_width(0, number, size))
                report.tiles_events_checked += 1
                if reader.leaf_hash(index).hex() != event.get("leaf_hash") or bundles[number][index % TILE_WIDTH] != leaf:
                    problem("tiles_entry_mismatch", "the published leaf differs from the bundle's", subject)
                elif [node.hex() for node in reader.inclusion_proof(index, bundle_size)] != event.get("audit_path"):
                    problem("tiles_proof_mismatch", "the audit path recomputed from the tiles differs from the "
                            "bundle's", subject)
    except (TilesUnreadable, OSError) as error:
        problem("tiles_unreadable", f"a tile cannot be read: {error}")
    except VerificationError as error:
        code = error.code if error.code == "tree_size_regressed" else f"tiles_{error.code}"
        problem(code, f"the published log does not extend the bundle's checkpoint: {error}")


def _bates(prefix: str, label: Any) -> int | None:
    if not isinstance(label, str) or not label.startswith(prefix) or not label[len(prefix):].isdigit():
        return None
    return int(label[len(prefix):])


def verify_bundle(bundle: Path | str, public_key_pem: bytes | None = None,
                  limits: BundleLimits = BundleLimits(), *, tiles: FetchFile | None = None,
                  tiles_name: str | None = None, tiles_key_pem: bytes | None = None) -> BundleReport:
    """Check a bundle end to end; ``public_key_pem`` pins the key instead of trusting the bundle's own.

    With ``tiles`` (a reader of a tlog-tiles copy of the log: ``directory_tiles`` offline, or a
    web mirror) the bundle is also checked against the log as published: see ``_check_tiles``;
    ``tiles_key_pem`` is the ledger's current key when it has been rotated since the bundle.
    """
    report = BundleReport(bundle=str(bundle), key_pinned=public_key_pem is not None, tiles=tiles_name)
    try:
        archive = zipfile.ZipFile(bundle)
    except (zipfile.BadZipFile, OSError) as error:
        report.problem("bundle", "bundle_unreadable", f"not a readable zip archive: {error}")
        return report
    with archive:
        entries = _screen(archive, limits, report)
        if report.failures:
            return report
        small = {}
        for name in (MANIFEST, SIGNATURE, PUBLIC_KEY):
            if name not in entries:
                report.problem(name, "file_missing", f"the bundle has no {name}")
                continue
            try:
                small[name] = _read_capped(archive, entries[name], limits.max_small_file_bytes)
            except (ValueError, zipfile.BadZipFile, OSError, EOFError) as error:
                report.problem(name, "file_unreadable", str(error))
        if report.failures:
            return report
        try:
            bundled_key = _load_key(small[PUBLIC_KEY])
        except ValueError as error:
            report.problem(PUBLIC_KEY, "key_malformed", f"public_key.pem is not an Ed25519 public key: {error}")
            bundled_key = None
        if bundled_key is not None and bundled_key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) != small[PUBLIC_KEY]:
            report.problem(PUBLIC_KEY, "key_not_canonical",
                           "public_key.pem is not in its one canonical PEM form; its bytes were altered")
        if public_key_pem is not None:
            try:
                public_key = _load_key(public_key_pem)
            except ValueError as error:
                report.problem("--public-key", "key_malformed", f"the pinned key is not an Ed25519 public key: {error}")
                return report
            if bundled_key is not None and bundled_key.public_bytes_raw() != public_key.public_bytes_raw():
                report.problem(PUBLIC_KEY, "key_not_pinned_key", "the bundle's public_key.pem is not the pinned key")
        elif bundled_key is None:
            return report
        else:
            public_key = bundled_key
        report.key_id = key_id(public_key.public_bytes_raw())
        try:
            public_key.verify(small[SIGNATURE], small[MANIFEST])
        except InvalidSignature:
            report.problem(MANIFEST, "manifest_signature_invalid",
                           f"manifest.sig does not verify over manifest.json with key {report.key_id}")
        try:
            manifest = json.loads(small[MANIFEST].decode("utf-8"))
            if not isinstance(manifest, dict):
                raise ValueError("the manifest is not a JSON object")
            if rfc8785.dumps(manifest) != small[MANIFEST]:
                report.problem(MANIFEST, "manifest_not_canonical", "manifest.json is not RFC 8785 canonical JSON")
        except (UnicodeDecodeError, ValueError, rfc8785.CanonicalizationError) as error:
            report.problem(MANIFEST, "manifest_malformed", f"manifest.json is not valid JSON: {error}")
            return report
        if (manifest.get("signing_key") or {}).get("key_id") != report.key_id:
            report.problem(MANIFEST, "key_id_mismatch", f"the manifest names signing key "
                           f"{(manifest.get('signing_key') or {}).get('key_id')}, verified with {report.key_id}")
        listed = _check_files(archive, entries, manifest, report)
        signed, origin = _signed_checkpoint(manifest, public_key, report)
        _check_exhibits(manifest, listed, signed, origin, public_key, report)
        _check_credentials(archive, entries, manifest, listed, report)
        if tiles is not None and signed is not None:
            keys = [public_key]
            if tiles_key_pem is not None:
                try:
                    keys.append(_load_key(tiles_key_pem))
                except ValueError as error:
                    report.problem("--tiles-public-key", "key_malformed", f"not an Ed25519 public key: {error}")
                    return report
            _check_tiles(manifest, signed, keys, tiles, report)
    return report


def _check_credentials(archive, entries, manifest: dict, listed: dict[str, dict], report: BundleReport) -> None:
    """Each image's C2PA-signed copy validates and names its original (legal_docs/credentials.py)."""
    withheld = {w.get("evidence_id"): w.get("sha256") for w in manifest.get("withheld", [])}
    signer = manifest.get("content_credentials") or {}
    for exhibit in manifest.get("exhibits", []):
        if exhibit.get("content_credentials"):
            report.credentials_checked += 1
        for code, message in credential_problems(exhibit, listed, withheld, signer,
                                                 lambda name: archive.open(entries[name])):
            report.problem(f"exhibit {exhibit.get('number')}", code, message)


def format_report(report: BundleReport) -> str:
    """The report as plain text: verdict, key, counts, then one line per problem."""
    lines = [f"bundle: {report.bundle}",
             f"result: {'VERIFIED' if report.ok else 'FAILED'}"]
    if report.key_id:
        pinned = "pinned with --public-key" if report.key_pinned else \
            "NOT pinned: taken from the bundle itself; compare this key id with one from a trusted source"
        lines.append(f"key id: {report.key_id} ({pinned})")
    lines.append(f"checked: {report.files_checked} files, {report.exhibits} exhibits, "
                 f"{report.events_checked} custody events")
    if report.credentials_checked:
        lines.append(f"content credentials: {report.credentials_checked} C2PA-signed image copies checked "
                     "(signature and hard binding; trust in their certificate is not judged here)")
    if report.tiles is not None:
        lines.append(f"tiles: {report.tiles} (tree size {report.tiles_tree_size}): "
                     f"{report.tiles_events_checked} custody events recomputed from tiles")
    for failure in report.failures:
        lines.append(f"problem: [{failure.problem}] {failure.subject}: {failure.message}")
    return "\n".join(lines)
