"""Factories for packet tests: sample exhibits made on the spot, and real ledger data built with the
pure ledger functions (MemoryNodeStore, canonical_leaf, sign_checkpoint), so every proof in a sample
packet is one the offline verifier must accept."""
from __future__ import annotations

import hashlib
import random
import wave
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pikepdf
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageDraw

from custody.ledger.checkpoint import Checkpoint, key_id, sign_checkpoint
from custody.ledger.leaf import ZERO_HASH_HEX, canonical_leaf, leaf_hash_hex
from custody.ledger.merkle import MemoryNodeStore, inclusion_proof, leaf_hash
from legal_docs.content import (
    CaseSummary,
    ChronologyEntry,
    Consent,
    CustodyLine,
    Exhibit,
    LedgerSnapshot,
    PacketContent,
    WithheldItem,
)

ORIGIN = "fieldproof.test/ledger"
LEAVES: dict[bytes, list[bytes]] = {}  # every leaf of each checkpoint built here, to grow a log past it
GENERATED_AT = datetime(2026, 3, 9, 8, 30, tzinfo=timezone.utc)


def signing_key(seed: bytes = b"fieldproof-test-key") -> Ed25519PrivateKey:
    """A fixed key, so that packets built twice sign identically."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed).digest())


def public_key_pem(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def make_jpeg(path: Path, index: int, size: tuple[int, int] = (1600, 1200)) -> Path:
    """A photo-like JPEG: gradient, noise and a label, different for each index."""
    width, height = size
    base = Image.linear_gradient("L").resize(size)
    small = (max(1, width // 4), max(1, height // 4))
    noise = Image.frombytes("L", small, random.Random(index).randbytes(small[0] * small[1])).resize(size)
    image = Image.merge("RGB", (base, noise, base.rotate(90 + index * 7).resize(size)))
    ImageDraw.Draw(image).text((40, 40), f"exhibit photo {index}", fill=(255, 255, 255))
    image.save(path, "JPEG", quality=85)
    return path


def make_pdf(path: Path, pages: int = 2) -> Path:
    """A small vector-only PDF (no fonts), enough for pdftoppm to rasterise."""
    pdf = pikepdf.new()
    for page in range(pages):
        pdf.add_blank_page(page_size=(595, 842))
        drawing = f"0.2 0.3 0.8 rg 72 {600 - page * 40} 300 120 re f 0 0 0 RG 4 w 72 72 450 500 re S".encode()
        pdf.pages[-1].Contents = pikepdf.Stream(pdf, drawing)
    pdf.save(path, deterministic_id=True)
    return path


def make_wav(path: Path, seconds: float = 1.5) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x01" * int(8000 * seconds))
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_ledger(items: list[tuple[str, str]], private_key: Ed25519PrivateKey, extra_leaves: int = 3):
    """Custody events for (evidence_id, sha256) items, proofs against one signed checkpoint.

    Unrelated leaves are interleaved so the proofs are not trivial.
    """
    store = MemoryNodeStore()
    leaves: list[bytes] = []
    owners: list[str | None] = []
    start = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)

    def append(event: dict, owner: str | None) -> None:
        event["index"] = len(leaves)
        event["prev_leaf_hash"] = leaf_hash_hex(leaves[-1]) if leaves else ZERO_HASH_HEX
        leaf = canonical_leaf(event)
        leaves.append(leaf)
        owners.append(owner)
        store.append(leaf_hash(leaf))

    for n in range(extra_leaves):
        append({"type": "created", "evidence_id": f"other-{n}", "actor_id": "u-9", "sha256": "ab" * 32,
                "at": (start + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")}, None)
    for position, (evidence_id, sha256) in enumerate(items):
        for step, kind in enumerate(("created", "sealed", "packeted")):
            at = start + timedelta(hours=position + 1, minutes=step)
            append({"type": kind, "evidence_id": evidence_id, "actor_id": "u-17" if step < 2 else "u-legal-1",
                    "sha256": sha256, "at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}, evidence_id)
    size = len(leaves)
    checkpoint = Checkpoint(ORIGIN, size, store.root())
    signed = sign_checkpoint(private_key, checkpoint)
    LEAVES[signed.body()] = list(leaves)
    custody: dict[str, list[CustodyLine]] = {}
    import json
    for index, (leaf, owner) in enumerate(zip(leaves, owners)):
        if owner is None:
            continue
        event = json.loads(leaf)
        proof = inclusion_proof(store.get_node, index, size)
        custody.setdefault(owner, []).append(CustodyLine(
            index=index, type=event["type"], at=event["at"], actor=event["actor_id"], leaf=leaf,
            leaf_hash=leaf_hash_hex(leaf), audit_path=tuple(node.hex() for node in proof)))
    raw = private_key.public_key().public_bytes_raw()
    snapshot = LedgerSnapshot(checkpoint=signed.body(), signature=signed.signature, key_id=key_id(raw),
                              public_key_pem=public_key_pem(private_key))
    return snapshot, custody


_TEXT = {
    "en": {"photo": "Photo of the front door at the home address", "pdf": "Collection letter sent",
           "audio": "Conversation with the debtor", "note": "Collector's note",
           "purpose": "The collector visited the home address at a lawful hour",
           "source": "Field visit, collector's device", "debtor": "Zhang San", "creditor": "Example Consumer Finance"},
    "zh-CN": {"photo": "住所地址门口照片", "pdf": "催收函", "audio": "与债务人的谈话录音", "note": "催收员笔记",
              "purpose": "证明催收员于合法时段上门催收", "source": "上门催收，催收员设备",
              "debtor": "张三", "creditor": "示例消费金融有限公司"},
}


def make_packet_content(directory: Path, *, language: str = "en", jurisdiction: str = "US-CA", photos: int = 3,
                        pdf: bool = True, audio: bool = True, note: bool = False, bates_prefix: str = "FP",
                        private_key: Ed25519PrivateKey | None = None,
                        photo_size: tuple[int, int] = (1600, 1200)) -> tuple[PacketContent, Ed25519PrivateKey]:
    """A complete sample packet: photos, optionally one PDF letter, one audio item and one note."""
    directory.mkdir(parents=True, exist_ok=True)
    private_key = private_key or signing_key()
    words = _TEXT[language]
    zone = "Asia/Shanghai" if jurisdiction == "CN" else ("Asia/Kolkata" if jurisdiction == "IN" else "America/Los_Angeles")
    files: list[tuple[str, str, str, Path, str]] = []
    for n in range(photos):
        files.append((f"ev-photo-{n + 1:04d}", "photo", "image/jpeg",
                      make_jpeg(directory / f"photo{n}.jpg", n, photo_size), f"{words['photo']} ({n + 1})"))
    if pdf:
        files.append(("ev-letter-1", "document", "application/pdf", make_pdf(directory / "letter.pdf"), words["pdf"]))
    if audio:
        files.append(("ev-audio-1", "audio", "audio/wav", make_wav(directory / "talk.wav"), words["audio"]))
    if note:
        path = directory / "note.txt"
        path.write_text("Debtor promised to pay 500.00 by 2026-03-20.\n债务人承诺于2026年3月20日前还款。\n", "utf-8")
        files.append(("ev-note-1", "note", "text/plain", path, words["note"]))
    hashes = [(evidence_id, _sha256(path)) for evidence_id, _k, _m, path, _t in files]
    snapshot, custody = build_ledger(hashes, private_key)
    base = datetime(2026, 3, 2, 1, 41, 7, tzinfo=timezone.utc)
    exhibits = []
    for number, ((evidence_id, kind, media, path, title), (_id, sha256)) in enumerate(zip(files, hashes), 1):
        captured = base + timedelta(minutes=3 * number)
        exhibits.append(Exhibit(
            number=number, evidence_id=evidence_id, title=title, description=title, source=words["source"],
            purpose=words["purpose"], kind=kind, media_type=media, path=path, sha256=sha256,
            size=path.stat().st_size, captured_at=captured, captured_local=captured.astimezone(ZoneInfo(zone)),
            zone=zone, collector="Wang Li (u-17)", device="dev-889 Pixel 8",
            consent=Consent(subject="granted", third_parties_present=False), custody=tuple(custody[evidence_id]),
            lat=31.230416, lon=121.473701, distance_m=12.4,
            address_label="住所地址" if language == "zh-CN" else "home address",
            duration_s=1.5 if kind == "audio" else None))
    visit = datetime(2026, 3, 2, 1, 38, tzinfo=timezone.utc)
    chronology = (
        ChronologyEntry(at=datetime(2026, 2, 20, 2, 0, tzinfo=timezone.utc),
                        local_at=datetime(2026, 2, 20, 2, 0, tzinfo=timezone.utc).astimezone(ZoneInfo(zone)),
                        zone=zone, kind="notice", summary="Collection letter sent by post"),
        ChronologyEntry(at=visit, local_at=visit.astimezone(ZoneInfo(zone)), zone=zone, kind="check_in",
                        summary="Checked in at the home address", actor="Wang Li", within_geofence=True,
                        distance_m=12.4),
        ChronologyEntry(at=visit + timedelta(minutes=25), local_at=(visit + timedelta(minutes=25)).astimezone(ZoneInfo(zone)),
                        zone=zone, kind="promise", summary="Promise to pay 500.00 by 2026-03-20", actor="Wang Li",
                        exhibit_numbers=tuple(e.number for e in exhibits[:2])),
    )
    content = PacketContent(
        packet_id="pk-0001", language=language, jurisdiction=jurisdiction, bates_prefix=bates_prefix,
        organisation="Example Collections Ltd", custodian_name="Li Na", custodian_title="Records custodian",
        case=CaseSummary(reference="CASE-2026-0042", debtor_name=words["debtor"], creditor=words["creditor"],
                         account_last4="4321", currency="CNY", amount_overdue="12800.00", days_past_due=97,
                         address="Shanghai, Huangpu District", national_id_last4="123X", birth_year=1986),
        chronology=chronology, exhibits=tuple(exhibits), ledger=snapshot, generated_at=GENERATED_AT,
        withheld=(WithheldItem("ev-withheld-1", "photo", "cd" * 32, "third parties present without consent"),),
        warnings=("ev-withheld-1: third parties present without consent; withheld",),
        court="Huangpu District People's Court" if language == "zh-CN" else "Superior Court of California",
        custodian_place="Shanghai")
    return content, private_key


def with_exhibits(content: PacketContent, exhibits) -> PacketContent:
    return replace(content, exhibits=tuple(exhibits))
