"""RFC 3161 timestamps on checkpoints: requested after signing, checked on receipt, retried.

A checkpoint is signed under the append lock and never waits for the TSA: stamping runs after
the checkpoint is committed (the periodic checkpoint job, the packet build, or
`ledger.stamp_checkpoints`), and a TSA that is down only leaves checkpoints pending, which the
next run stamps. How long the oldest has waited is served (`stamp_pending_since`) and exported
as a metric, so a TSA outage is seen rather than discovered in court.
"""
from __future__ import annotations

import base64
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import ConfigurationError
from core.jobs import job
from custody.ledger.timestamp import (
    TimestampError,
    certificates_pem,
    load_certificates,
    timestamp_request,
    verify_token,
)
from custody.models import CheckpointTimestamp, IssuedCheckpoint

log = logging.getLogger("fieldproof.timestamps")

CONTENT_TYPE = "application/timestamp-query"
MAX_RESPONSE_BYTES = 1 << 20
BATCH = 100  # checkpoints stamped per run; a long outage drains over a few runs


class TsaUnavailable(Exception):
    """The TSA did not answer with a usable, verifiable token; the checkpoint stays pending."""


@dataclass(frozen=True)
class TsaTrust:
    """The configured TSA's CA certificates: self-signed ones are the roots, the rest link to them."""

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]

    @classmethod
    def from_file(cls, path: Path) -> TsaTrust:
        try:
            certificates = load_certificates(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"TSA CA file {path} cannot be read as PEM certificates: {exc}") from None
        roots = tuple(c for c in certificates if c.subject == c.issuer)
        if not roots:
            raise ConfigurationError(f"TSA CA file {path} holds no self-signed root certificate")
        return cls(roots, tuple(c for c in certificates if c.subject != c.issuer))


def note_bytes(session: Session, row: IssuedCheckpoint) -> bytes:
    """The exact bytes stamped: the checkpoint's signed note as served in `note`."""
    from custody.checkpoints import tree_head

    return tree_head(session, row).note.encode("utf-8")


def request_token(url: str, message: bytes, trust: TsaTrust, timeout: float) -> tuple[bytes, datetime, str]:
    """Ask the TSA for a token over `message` and check it; (token DER, genTime, chain PEM)."""
    request = timestamp_request(message)
    http = urllib.request.Request(url, data=request.as_bytes(), method="POST",
                                  headers={"Content-Type": CONTENT_TYPE, "Accept": "application/timestamp-reply"})
    try:
        with urllib.request.urlopen(http, timeout=timeout) as answer:  # noqa: S310 - an http(s) URL from settings
            body = answer.read(MAX_RESPONSE_BYTES + 1)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise TsaUnavailable(f"TSA {url} did not answer: {exc}") from exc
    if len(body) > MAX_RESPONSE_BYTES:
        raise TsaUnavailable(f"TSA {url} answered more than {MAX_RESPONSE_BYTES} bytes")
    from rfc3161_client import PKIStatus, decode_timestamp_response

    try:
        response = decode_timestamp_response(body)
    except ValueError as exc:
        raise TsaUnavailable(f"TSA {url} answered something that is not a timestamp response: {exc}") from exc
    if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise TsaUnavailable(f"TSA {url} refused the request (status {response.status})")
    token = response.time_stamp_token()
    try:
        stamped = verify_token(token, message, list(trust.roots), list(trust.intermediates), nonce=request.nonce)
    except TimestampError as exc:
        raise TsaUnavailable(f"TSA {url} answered a token that does not verify: [{exc.code}] {exc}") from exc
    embedded = [x509.load_der_x509_certificate(der) for der in response.signed_data.certificates]
    chain = embedded + [c for c in (*trust.intermediates, *trust.roots) if c not in embedded]
    return token, stamped.time, certificates_pem(chain)


def pending(session: Session, limit: int = BATCH) -> list[IssuedCheckpoint]:
    """Checkpoints without a timestamp, oldest first."""
    return list(session.scalars(
        select(IssuedCheckpoint).outerjoin(CheckpointTimestamp, CheckpointTimestamp.checkpoint_id == IssuedCheckpoint.id)
        .where(CheckpointTimestamp.checkpoint_id.is_(None)).order_by(IssuedCheckpoint.id).limit(limit)))


def pending_since(session: Session, settings) -> datetime | None:
    """When the oldest unstamped checkpoint was issued, if a TSA is configured and one waits."""
    if not settings.tsa_url:
        return None
    oldest = pending(session, 1)
    return oldest[0].issued_at if oldest else None


def stamp_checkpoint(runtime, checkpoint_id: int) -> TimestampView | None:
    """Stamp one checkpoint now (no transaction is held while the TSA answers); None when the
    TSA is not configured or did not give a valid token — it stays pending for the retry."""
    settings = runtime.settings
    if not settings.tsa_url:
        return None
    trust = TsaTrust.from_file(settings.tsa_ca_file)
    with runtime.db.transaction() as session:
        if session.get(CheckpointTimestamp, checkpoint_id) is not None:
            return timestamp_view(session, checkpoint_id)
        message = note_bytes(session, session.get(IssuedCheckpoint, checkpoint_id))
    try:
        token, gen_time, chain = request_token(settings.tsa_url, message, trust, settings.tsa_timeout_seconds)
    except TsaUnavailable as exc:
        log.warning("checkpoint not stamped; it stays pending", extra={"checkpoint_id": checkpoint_id,
                                                                       "reason": str(exc)[:500]})
        return None
    with runtime.db.transaction() as session:
        existing = session.get(CheckpointTimestamp, checkpoint_id)
        if existing is None:
            session.add(CheckpointTimestamp(checkpoint_id=checkpoint_id, token=token, tsa=settings.tsa_url,
                                            gen_time=gen_time, chain_pem=chain, stamped_at=utcnow()))
    with runtime.db.transaction() as session:
        return timestamp_view(session, checkpoint_id)


def stamp_pending(runtime, limit: int = BATCH) -> int:
    """Stamp waiting checkpoints oldest first; stops at the first failure (the TSA is down)."""
    if not runtime.settings.tsa_url:
        return 0
    with runtime.db.transaction() as session:
        ids = [row.id for row in pending(session, limit)]
    stamped = 0
    for checkpoint_id in ids:
        if stamp_checkpoint(runtime, checkpoint_id) is None:
            break
        stamped += 1
    if stamped:
        log.info("checkpoints stamped", extra={"count": stamped})
    return stamped


@job("ledger.stamp_checkpoints")
def stamp_checkpoints_job(runtime) -> int:
    """Retry stamping every pending checkpoint; harmless when there is none or no TSA."""
    return stamp_pending(runtime)


@dataclass(frozen=True)
class TimestampView:
    """A checkpoint's stamp as served: the token and what it says."""

    token: str
    tsa: str
    time: datetime
    chain_pem: str


def timestamp_view(session: Session, checkpoint_id: int) -> TimestampView | None:
    row = session.get(CheckpointTimestamp, checkpoint_id)
    if row is None:
        return None
    return TimestampView(base64.b64encode(row.token).decode("ascii"), row.tsa, row.gen_time, row.chain_pem)
