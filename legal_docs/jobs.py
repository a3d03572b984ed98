"""The packet build job: assemble, render, bundle, store — outside any request.

Safe to run twice, as every job must be: a ready (or failed) packet is left alone, and a
packet found `building` is a previous attempt that died, so it starts over from an empty work
directory. The custody events an abandoned attempt committed stay in the ledger (it is
append-only and they did happen); the new attempt records its own and signs its own checkpoint.

A build that fails is recorded as failed with its reason and never raised to the runner: a
retry would fail the same way, and a lawyer requests a new version once the cause is fixed.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from cases.services import record_event
from core.clock import utcnow
from core.errors import FieldProofError
from core.hashing import digest_file
from core.jobs import job
from core.keys import load_content_credentials
from custody.append import record_custody_event
from evidence.services import verify_stored
from legal_docs.assembly import BUILD_JOB, assemble_content, with_witnesses
from legal_docs.bundle import write_bundle
from legal_docs.credentials import ContentCredentialSigner
from legal_docs.models import Packet
from legal_docs.render import load_weasyprint, render_packet

log = logging.getLogger("fieldproof.packets")

# Shares of `progress`: copying and re-hashing exhibits, then rendering, then bundling and storing.
_COPY_SHARE, _RENDER_SHARE = 0.4, 0.45


def work_directory(runtime, packet_id: str) -> Path:
    """The build's private scratch space under the data dir, emptied at start and at the end."""
    return Path(runtime.settings.data_dir) / "packets" / packet_id


def _store(blobs, path: Path) -> tuple[str, int]:
    """Put a built file in the blob store under its SHA-256; bytes already there are re-hashed."""
    digest = digest_file(path, md5=True)
    sha256, size = digest.sha256_hex, digest.size
    stored = blobs.put_file(path, sha256, size, digest.md5_b64)
    if not stored.created:
        verify_stored(blobs, sha256, size)
    return sha256, size


def _start(runtime, packet_id: str) -> bool:
    """Mark the packet building with every result field reset; False when there is nothing to do."""
    with runtime.db.transaction() as session:
        packet = session.get(Packet, packet_id)
        if packet is None or packet.status in ("ready", "failed"):
            return False
        packet.status, packet.started_at, packet.finished_at, packet.error = "building", utcnow(), None, None
        packet.progress, packet.exhibits_total, packet.exhibits_done = 0.0, 0, 0
        packet.exhibits, packet.withheld, packet.volumes, packet.warnings = [], [], [], []
        packet.pages = packet.bundle_sha256 = packet.bundle_size = packet.manifest_sha256 = None
        packet.checkpoint_tree_size = None
        return True


def _set_progress(runtime, packet_id: str, progress: float, **fields) -> None:
    with runtime.db.transaction() as session:
        packet = session.get(Packet, packet_id)
        packet.progress = round(progress, 4)
        for name, value in fields.items():
            setattr(packet, name, value)


def build_packet(runtime, packet_id: str) -> None:
    """Build one packet version end to end and record the outcome on its row and the case timeline."""
    if not _start(runtime, packet_id):
        return
    load_weasyprint()
    work = work_directory(runtime, packet_id)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        def copied(done: int, total: int) -> None:
            _set_progress(runtime, packet_id, _COPY_SHARE * done / max(total, 1),
                          exhibits_done=done, exhibits_total=total)

        content = assemble_content(runtime, packet_id, work, progress=copied)
        rendered = render_packet(content, work / "pdf", max_volume_bytes=runtime.settings.packet_volume_bytes,
                                 work_dir=work, workers=runtime.settings.render_workers)
        _set_progress(runtime, packet_id, _COPY_SHARE + _RENDER_SHARE)
        content = with_witnesses(runtime, content)
        credentials = ContentCredentialSigner(runtime.credentials or load_content_credentials(runtime.settings))
        bundle = write_bundle(work / "bundle.zip", content, rendered, runtime.signer.key.private_key, credentials)
        volumes = []
        for volume in rendered.volumes:
            sha256, size = _store(runtime.blobs, volume.path)
            volumes.append({"number": volume.number, "sha256": sha256, "size": size, "pages": volume.pages,
                            "bates_first": volume.bates_first, "bates_last": volume.bates_last})
        bundle_sha256, bundle_size = _store(runtime.blobs, bundle.path)
    except Exception as error:  # noqa: BLE001 - every failure is recorded on the packet, none is retried
        _fail(runtime, packet_id, error)
        return
    finally:
        shutil.rmtree(work, ignore_errors=True)
    exhibits = []
    for exhibit in content.exhibits:
        first, last = rendered.exhibit_bates(exhibit.number)
        exhibits.append({"number": exhibit.number, "evidence_id": exhibit.evidence_id, "sha256": exhibit.sha256,
                         "kind": exhibit.kind, "derived_from": exhibit.derived_from,
                         "bates_first": first, "bates_last": last})
    with runtime.db.transaction() as session:
        packet = session.get(Packet, packet_id)
        packet.status, packet.progress, packet.finished_at = "ready", 1.0, utcnow()
        packet.exhibits, packet.volumes, packet.pages = exhibits, volumes, rendered.pages
        packet.withheld = [{"evidence_id": w.evidence_id, "kind": w.kind, "sha256": w.sha256, "reason": w.reason,
                            "replaced_by_exhibit": w.replaced_by_exhibit} for w in content.withheld]
        packet.warnings = list(rendered.warnings)
        packet.bundle_sha256, packet.bundle_size, packet.manifest_sha256 = bundle_sha256, bundle_size, \
            bundle.manifest_sha256
        record_custody_event(session, type="packet_built", subject_id=packet.id, actor_id=packet.requested_by,
                             sha256=bundle_sha256, case_id=packet.case_id,
                             details={"packet_version": packet.version, "manifest_sha256": bundle.manifest_sha256,
                                      "exhibits": len(exhibits), "volumes": len(volumes),
                                      "checkpoint_tree_size": packet.checkpoint_tree_size})
        record_event(session, packet.case_id, "packet_built", packet.requested_by,
                     {"packet_id": packet.id, "version": packet.version, "exhibits": len(exhibits),
                      "pages": rendered.pages, "volumes": len(volumes), "withheld": len(content.withheld),
                      "manifest_sha256": bundle.manifest_sha256}, subject_id=packet.id)


def _fail(runtime, packet_id: str, error: Exception) -> None:
    reason = error.detail if isinstance(error, FieldProofError) else f"{type(error).__name__}: {error}"
    log.error("packet build failed", extra={"packet_id": packet_id, "error_type": type(error).__name__},
              exc_info=not isinstance(error, FieldProofError))
    with runtime.db.transaction() as session:
        packet = session.get(Packet, packet_id)
        packet.status, packet.error, packet.finished_at = "failed", reason[:2000], utcnow()
        details = {"packet_id": packet.id, "version": packet.version, "error": packet.error}
        if isinstance(error, FieldProofError) and error.extra.get("evidence_id"):
            details["evidence_id"] = error.extra["evidence_id"]
        record_event(session, packet.case_id, "packet_failed", packet.requested_by, details, subject_id=packet.id)


@job(BUILD_JOB)
def build_packet_job(runtime, packet_id: str) -> None:
    """The queued build (see `build_packet`)."""
    build_packet(runtime, packet_id)
