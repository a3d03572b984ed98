"""The plain, immutable input a court-filing packet is rendered from.

Everything here is already decided: which items are exhibits, in what order,
which copy (original or redacted derivative) is shown, and what personal data
is reduced. The renderer, manifest and bundle only present these values; they
never reach back into the database, so a packet can be rebuilt and checked
from this input alone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from custody.ledger.checkpoint import Checkpoint

__all__ = [
    "CaseSummary",
    "CheckpointStamp",
    "ChronologyEntry",
    "Consent",
    "CustodyLine",
    "Exhibit",
    "LedgerSnapshot",
    "PacketContent",
    "WithheldItem",
    "WitnessedExtension",
    "LANGUAGES",
    "EXHIBIT_KINDS",
]

LANGUAGES = ("en", "zh-CN")
EXHIBIT_KINDS = ("photo", "audio", "document", "note")
_JURISDICTION = re.compile(r"CN|IN|US-[A-Z]{2}")
_PREFIX = re.compile(r"[A-Z][A-Z0-9_]{0,15}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _aware(value: datetime, name: str) -> None:
    _require(isinstance(value, datetime) and value.utcoffset() is not None, f"{name} must be timezone-aware")


@dataclass(frozen=True)
class CaseSummary:
    """The case as a court may see it: identifiers cut to the last 4, birth year only (FRCP 5.2(a))."""

    reference: str
    debtor_name: str
    creditor: str
    account_last4: str
    currency: str
    amount_overdue: str
    days_past_due: int
    address: str
    national_id_last4: str | None = None
    birth_year: int | None = None

    def __post_init__(self) -> None:
        _require(len(self.account_last4) == 4, "account_last4 must be exactly the last 4 characters")
        _require(self.national_id_last4 is None or len(self.national_id_last4) == 4,
                 "national_id_last4 must be exactly the last 4 characters")
        _require(self.birth_year is None or 1900 <= self.birth_year <= 2100, "birth_year must be a year")


@dataclass(frozen=True)
class ChronologyEntry:
    """One collection effort: a notice, visit, check-in (with its geofence result), outcome, note or promise."""

    at: datetime
    local_at: datetime
    zone: str
    kind: str
    summary: str
    actor: str = ""
    within_geofence: bool | None = None
    distance_m: float | None = None
    exhibit_numbers: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _aware(self.at, "chronology at")
        _aware(self.local_at, "chronology local_at")


@dataclass(frozen=True)
class CustodyLine:
    """A line of an exhibit's chain of custody: the ledger event's exact leaf bytes and inclusion proof."""

    index: int
    type: str
    at: str
    actor: str
    leaf: bytes
    leaf_hash: str
    audit_path: tuple[str, ...]

    def __post_init__(self) -> None:
        _require(_HEX64.fullmatch(self.leaf_hash) is not None, "leaf_hash must be 64 lowercase hex digits")
        _require(all(_HEX64.fullmatch(node) for node in self.audit_path), "audit_path entries must be hex hashes")


@dataclass(frozen=True)
class Consent:
    """Consent as recorded at capture: the subject's answer and whether third parties were present."""

    subject: str
    third_parties_present: bool
    third_party_consent: bool | None = None


@dataclass(frozen=True)
class Exhibit:
    """One exhibit: the file shown (original or redacted derivative) and everything its caption states."""

    number: int
    evidence_id: str
    title: str
    description: str
    source: str
    purpose: str
    kind: str
    media_type: str
    path: Path
    sha256: str
    size: int
    captured_at: datetime
    captured_local: datetime
    zone: str
    collector: str
    device: str
    consent: Consent
    custody: tuple[CustodyLine, ...]
    lat: float | None = None
    lon: float | None = None
    distance_m: float | None = None
    address_label: str = ""
    derived_from: str | None = None
    duration_s: float | None = None
    redaction_reason: str = ""       # a redacted derivative's: what was covered and why

    def __post_init__(self) -> None:
        _require(self.number >= 1, "exhibit numbers start at 1")
        _require(self.kind in EXHIBIT_KINDS, f"exhibit kind {self.kind!r} is not one of {EXHIBIT_KINDS}")
        _require(_HEX64.fullmatch(self.sha256) is not None, "sha256 must be 64 lowercase hex digits")
        _require(self.size >= 0, "size must not be negative")
        _aware(self.captured_at, "captured_at")
        _aware(self.captured_local, "captured_local")
        object.__setattr__(self, "path", Path(self.path))


@dataclass(frozen=True)
class WithheldItem:
    """An item left out of the exhibits for privacy; listed so the omission is visible, never silent."""

    evidence_id: str
    kind: str
    sha256: str
    reason: str
    replaced_by_exhibit: int | None = None


@dataclass(frozen=True)
class CheckpointStamp:
    """An RFC 3161 timestamp token over the checkpoint's signed note (`note`, the exact stamped bytes)."""

    token: bytes
    tsa: str
    time: datetime
    chain_pem: str
    note: bytes

    def __post_init__(self) -> None:
        _aware(self.time, "timestamp time")


@dataclass(frozen=True)
class WitnessedExtension:
    """A later checkpoint that witnesses cosigned, and the RFC 9162 proof that it extends the packet's."""

    note: bytes
    cosignatures: tuple[str, ...]
    consistency_proof: tuple[str, ...]

    @property
    def witnesses(self) -> tuple[str, ...]:
        return tuple(line[2:].split(" ", 1)[0] for line in self.cosignatures)


@dataclass(frozen=True)
class LedgerSnapshot:
    """The signed checkpoint every exhibit's custody proofs are checked against, and the key that signed it.

    With what others vouch for it at build time: the TSA's timestamp (None while pending or with
    no TSA configured) and the witnesses' cosignature lines."""

    checkpoint: bytes
    signature: bytes
    key_id: str
    public_key_pem: bytes
    timestamp: CheckpointStamp | None = None
    cosignatures: tuple[str, ...] = ()
    stamp_pending: bool = False  # a TSA is configured but had not stamped the checkpoint at build time
    witnessed: WitnessedExtension | None = None  # gathered just before the bundle is written

    @property
    def witnesses(self) -> tuple[str, ...]:
        """The names of the witnesses that cosigned, from their lines."""
        return tuple(line[2:].split(" ", 1)[0] for line in self.cosignatures)

    @property
    def parsed(self) -> Checkpoint:
        return Checkpoint.parse(self.checkpoint)


@dataclass(frozen=True)
class PacketContent:
    """Everything a packet shows, fixed before rendering so the same input gives the same manifest."""

    packet_id: str
    language: str
    jurisdiction: str
    bates_prefix: str
    organisation: str
    custodian_name: str
    custodian_title: str
    case: CaseSummary
    chronology: tuple[ChronologyEntry, ...]
    exhibits: tuple[Exhibit, ...]
    ledger: LedgerSnapshot
    generated_at: datetime
    withheld: tuple[WithheldItem, ...] = ()
    warnings: tuple[str, ...] = ()
    court: str = ""
    custodian_place: str = ""

    def __post_init__(self) -> None:
        _require(self.language in LANGUAGES, f"language must be one of {LANGUAGES}")
        _require(_JURISDICTION.fullmatch(self.jurisdiction) is not None, "jurisdiction must be CN, IN or US-XX")
        _require(_PREFIX.fullmatch(self.bates_prefix) is not None,
                 "bates_prefix must be 1-16 capitals, digits or '_' and start with a letter")
        _aware(self.generated_at, "generated_at")
        numbers = [exhibit.number for exhibit in self.exhibits]
        _require(numbers == list(range(1, len(numbers) + 1)), "exhibits must be numbered 1..n in order")
        ids = [exhibit.evidence_id for exhibit in self.exhibits]
        _require(len(set(ids)) == len(ids), "an evidence item can be one exhibit only")

    @property
    def jurisdiction_family(self) -> str:
        """CN, IN or US: the declaration form follows the country, not the state."""
        return self.jurisdiction.split("-", 1)[0]
