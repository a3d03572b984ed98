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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from custody.ledger.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    key_id,
    open_note,
    parse_signed_note,
    signed_note,
    verify_checkpoint_signature,
)
from custody.ledger.cosignature import COSIGNATURE_TYPE, find_cosignatures, parse_verifier_key
from custody.ledger.merkle import ProofError, hash_from_hex, verify_consistency
from custody.ledger.tiles import TILE_WIDTH, Tile, TileReader, parse_entry_bundle, tile_width
from custody.ledger.timestamp import TimestampError, load_certificates, response_from_token, verify_token
from custody.ledger.verify import (
    Failure,
    VerificationError,
    VerificationResult,
    verify_event,
)
from custody.mirrors import TilesUnreadable, directory_tiles
from legal_docs.credentials import credential_problems

__all__ = ["BundleLimits", "BundleReport", "FetchFile", "TilesUnreadable", "TrustAnchors", "directory_tiles",
           "format_report", "verify_bundle"]

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
    # trust beyond the operator's key
    trusted_time: datetime | None = None
    tsa: str | None = None
    timestamp_status: str = "absent"  # absent, verified, unchecked (no --tsa-root), failed
    witnesses: list[str] = field(default_factory=list)  # cosigners verified with a pinned key
    unchecked_cosigners: list[str] = field(default_factory=list)  # named in the bundle, no key given
    witnesses_required: int = 0
    witnessed_size: int | None = None  # when cosignatures came on a later checkpoint that extends this one

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
raises ``TilesUnreadable`` (or OSError) when it cannot: ``directory_tiles`` offline, or
``custody.mirrors.url_tiles``."""


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


@dataclass(frozen=True)
class TrustAnchors:
    """What the verifier pins beyond the operator's key: TSA roots, witness keys and a quorum."""

    tsa_roots_pem: bytes | None = None
    witness_keys: tuple[str, ...] = ()
    witnesses_required: int | None = None  # default: every witness key given


def _newest_leaf_time(manifest: dict) -> datetime | None:
    newest = None
    for exhibit in manifest.get("exhibits", []):
        for event in exhibit.get("custody") or []:
            try:
                at = datetime.fromisoformat(str(json.loads(str(event["leaf"]))["at"]).replace("Z", "+00:00"))
            except (KeyError, TypeError, ValueError):
                continue
            if at.tzinfo is None:
                at = at.replace(tzinfo=timezone.utc)
            newest = at if newest is None or at > newest else newest
    return newest


def _check_timestamp(manifest: dict, signed: SignedCheckpoint, public_key, anchors: TrustAnchors,
                     report: BundleReport) -> None:
    """The checkpoint's RFC 3161 stamp: over this checkpoint's note, chained to a pinned root, after its leaves."""
    section = (manifest.get("checkpoint") or {}).get("timestamp")
    if not section:
        if anchors.tsa_roots_pem is not None:
            report.timestamp_status = "failed"
            report.problem("timestamp", "timestamp_missing", "--tsa-root was given but the checkpoint carries no "
                           "timestamp (it was pending when the packet was built, or no TSA was configured)")
        return
    report.timestamp_status = "failed"
    try:
        note = str(section["note"]).encode("utf-8")
        token = base64.b64decode(str(section["token"]), validate=True)
        report.tsa = str(section.get("tsa") or "")
    except (KeyError, binascii.Error) as error:
        report.problem("timestamp", "timestamp_malformed", f"the manifest's timestamp is incomplete: {error}")
        return
    try:
        text, _ = open_note(note, public_key, signed.checkpoint.origin)
    except VerificationError as error:
        report.problem("timestamp", "timestamp_checkpoint_mismatch",
                       f"the stamped note is not this checkpoint's signed note: {error}")
        return
    if text != signed.body():
        report.problem("timestamp", "timestamp_checkpoint_mismatch",
                       "the stamped note is another checkpoint's (its body differs from the packet's checkpoint)")
        return
    if anchors.tsa_roots_pem is None:
        try:
            response = response_from_token(token)
            imprint = response.tst_info.message_imprint.message
        except (TimestampError, ValueError) as error:
            report.problem("timestamp", "timestamp_malformed", f"the timestamp token cannot be read: {error}")
            return
        if imprint != hashlib.sha256(note).digest():
            report.problem("timestamp", "timestamp_imprint_mismatch",
                           "the token stamps other bytes than this checkpoint's signed note")
            return
        report.timestamp_status = "unchecked"
        return
    try:
        roots = load_certificates(anchors.tsa_roots_pem)
        chain = load_certificates(str(section.get("chain_pem") or "").encode("ascii")) if section.get("chain_pem") \
            else []
    except (ValueError, UnicodeEncodeError) as error:
        report.problem("timestamp", "timestamp_chain_malformed", f"TSA certificates cannot be read: {error}")
        return
    try:
        stamped = verify_token(token, note, roots, chain)
    except TimestampError as error:
        report.problem("timestamp", error.code, str(error))
        return
    if section.get("time") != stamped.time.isoformat():
        report.problem("timestamp", "timestamp_fields_mismatch",
                       f"the manifest says {section.get('time')}, the token says {stamped.time.isoformat()}")
    newest = _newest_leaf_time(manifest)
    # genTime is read to the whole second: a stamp in the same second as the newest event is not before it
    if newest is not None and stamped.time < newest.replace(microsecond=0):
        report.problem("timestamp", "timestamp_before_leaf",
                       f"the stamp's time {stamped.time.isoformat()} is before the checkpoint's newest custody event "
                       f"({newest.isoformat()}): the stamp cannot be over this checkpoint")
        return
    report.timestamp_status = "verified"
    report.trusted_time = stamped.time


def _check_witnesses(manifest: dict, signed: SignedCheckpoint, public_key, anchors: TrustAnchors,
                     report: BundleReport) -> None:
    """The witnesses' cosignatures on the checkpoint, verified with pinned keys, against the quorum."""
    lines = (manifest.get("checkpoint") or {}).get("cosignatures") or []
    if not isinstance(lines, list) or not all(isinstance(line, str) and line.endswith("\n") for line in lines):
        report.problem("cosignatures", "cosignature_malformed", "the manifest's cosignatures are not note lines")
        return
    keys = []
    for text in anchors.witness_keys:
        try:
            keys.append(parse_verifier_key(text, key_type=COSIGNATURE_TYPE))
        except ValueError as error:
            report.problem("--witness-key", "witness_key_malformed", f"{text!r} is not a witness verifier key: {error}")
    required = len(anchors.witness_keys) if anchors.witnesses_required is None else anchors.witnesses_required
    report.witnesses_required = required
    if required > len(anchors.witness_keys):
        report.problem("--witnesses", "witness_quorum_impossible",
                       f"a quorum of {required} needs at least as many --witness-key")
    note = signed_note(signed, public_key) + "".join(lines).encode("utf-8")
    try:
        _, found, errors = find_cosignatures(note, keys)
    except VerificationError as error:
        report.problem("cosignatures", getattr(error, "code", "cosignature_malformed"), str(error))
        return
    for name, error in errors:
        report.problem(f"cosignature {name}", error.code, str(error))
    named = {line[2:].split(" ", 1)[0] for line in lines}
    later = _witnessed_later(manifest, signed, public_key, keys, report)
    if later is not None:
        later_found, later_named = later
        for name in later_found:
            found.setdefault(name, later_found[name])
        named |= later_named
    report.witnesses = sorted(found)
    named = sorted(named)
    report.unchecked_cosigners = [name for name in named if name not in found]
    if len(found) < required:
        report.problem("cosignatures", "witness_quorum_not_met",
                       f"{len(found)} of the required {required} pinned witnesses cosigned the checkpoint"
                       + (f" (verified: {', '.join(sorted(found))})" if found else ""))


def _witnessed_later(manifest: dict, signed: SignedCheckpoint, public_key, keys, report: BundleReport):
    """Cosignatures on a later checkpoint count for this one when it is signed by the same key and a
    consistency proof shows it extends this checkpoint's tree."""
    section = (manifest.get("checkpoint") or {}).get("witnessed")
    if not section:
        return None
    try:
        note = str(section["note"]).encode("utf-8")
        lines = [str(line) for line in section.get("cosignatures") or []]
        proof = [hash_from_hex(node, name="consistency_proof") for node in section.get("consistency_proof") or []]
        text, _ = open_note(note, public_key, signed.checkpoint.origin)
        later = Checkpoint.parse(text)
    except (KeyError, TypeError, ValueError) as error:
        report.problem("witnessed checkpoint", "witnessed_checkpoint_malformed", f"it cannot be read: {error}")
        return None
    except VerificationError as error:
        report.problem("witnessed checkpoint", "witnessed_checkpoint_invalid",
                       f"it is not signed by the ledger key: {error}")
        return None
    try:
        if later.origin != signed.checkpoint.origin:
            raise ProofError(f"it is of another log ({later.origin!r})")
        verify_consistency(signed.checkpoint.tree_size, later.tree_size, proof, signed.checkpoint.root_hash,
                           later.root_hash)
    except VerificationError as error:
        report.problem("witnessed checkpoint", "witnessed_checkpoint_inconsistent",
                       f"the later checkpoint of size {later.tree_size} does not extend this one: {error}")
        return None
    try:
        _, found, errors = find_cosignatures(note + "".join(lines).encode("utf-8"), keys)
    except VerificationError as error:
        report.problem("witnessed checkpoint", getattr(error, "code", "cosignature_malformed"), str(error))
        return None
    for name, error in errors:
        report.problem(f"cosignature {name} (later checkpoint)", error.code, str(error))
    report.witnessed_size = later.tree_size
    return found, {line[2:].split(" ", 1)[0] for line in lines}


def verify_bundle(bundle: Path | str, public_key_pem: bytes | None = None,
                  limits: BundleLimits = BundleLimits(), *, tiles: FetchFile | None = None,
                  tiles_name: str | None = None, tiles_key_pem: bytes | None = None,
                  anchors: TrustAnchors = TrustAnchors()) -> BundleReport:
    """Check a bundle end to end; ``public_key_pem`` pins the key instead of trusting the bundle's own.

    With ``tiles`` (a reader of a tlog-tiles copy of the log: ``directory_tiles`` offline, or a
    web mirror) the bundle is also checked against the log as published: see ``_check_tiles``;
    ``tiles_key_pem`` is the ledger's current key when it has been rotated since the bundle.
    ``anchors`` pins TSA roots and witness keys, which then must vouch for the checkpoint.
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
        if signed is not None:
            _check_timestamp(manifest, signed, public_key, anchors, report)
            _check_witnesses(manifest, signed, public_key, anchors, report)
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
    if report.timestamp_status == "verified":
        lines.append(f"trusted time: {report.trusted_time.isoformat()} (RFC 3161 timestamp by {report.tsa}, "
                     "chained to the pinned --tsa-root)")
    elif report.timestamp_status == "unchecked":
        lines.append(f"trusted time: NOT CHECKED: the checkpoint carries a timestamp by {report.tsa}; "
                     "pass --tsa-root PEM to verify it")
    elif report.timestamp_status == "absent":
        lines.append("trusted time: none (the checkpoint carries no RFC 3161 timestamp)")
    else:
        lines.append("trusted time: FAILED (see the problems below)")
    if report.witnesses:
        later = (f", on a later checkpoint of size {report.witnessed_size} proven to extend this one"
                 if report.witnessed_size is not None else "")
        lines.append(f"witnesses: {', '.join(report.witnesses)} cosigned (verified with pinned keys{later}; "
                     f"{report.witnesses_required} required)")
    elif report.witnesses_required:
        lines.append(f"witnesses: none verified ({report.witnesses_required} required)")
    else:
        lines.append("witnesses: none required")
    if report.unchecked_cosigners:
        lines.append(f"cosignatures not checked (no --witness-key for them): {', '.join(report.unchecked_cosigners)}")
    if report.credentials_checked:
        lines.append(f"content credentials: {report.credentials_checked} C2PA-signed image copies checked "
                     "(signature and hard binding; trust in their certificate is not judged here)")
    if report.tiles is not None:
        lines.append(f"tiles: {report.tiles} (tree size {report.tiles_tree_size}): "
                     f"{report.tiles_events_checked} custody events recomputed from tiles")
    for failure in report.failures:
        lines.append(f"problem: [{failure.problem}] {failure.subject}: {failure.message}")
    return "\n".join(lines)
