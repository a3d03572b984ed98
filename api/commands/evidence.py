"""`fieldproof storage sweep`: blobs that nothing references, removed where retention allows.

"Referenced" spans packages: evidence rows (bytes and thumbnails) are checked by
`evidence.services.sweep_storage` itself, and every other owner of blobs is a reference provider
listed in `BLOB_REFERENCES` here (the CLI may import every package; `evidence` may not import
`legal_docs`, which imports it). A new kind of blob-owning record must add its provider here,
or the sweep would report its blobs as unreferenced and `--remove` delete them once their
retention ends.
"""
from collections.abc import Collection
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session


def packet_blobs(session: Session, digests: Collection[str]) -> set[str]:
    """Of `digests`, those a packet keeps: its bundle and every volume, in every version (a filed
    packet must stay reproducible for as long as its row exists)."""
    from legal_docs.models import Packet

    wanted = set(digests)
    found = set(session.scalars(select(Packet.bundle_sha256).where(Packet.bundle_sha256.in_(wanted))))
    # Volumes are a JSON list on the row: read the rows that have any and match in Python.
    for volumes in session.scalars(select(Packet.volumes)):
        for volume in volumes or []:
            if isinstance(volume, dict) and volume.get("sha256") in wanted:
                found.add(volume["sha256"])
    return found


def contact_blobs(session: Session, digests: Collection[str]) -> set[str]:
    """Of `digests`, those a contact keeps: the sealed text as sent of a call, message or letter."""
    from contacts.models import Contact

    return set(session.scalars(select(Contact.text_sha256).where(Contact.text_sha256.in_(set(digests)))))


BLOB_REFERENCES = (packet_blobs, contact_blobs)
"""Every record outside evidence rows that keeps blobs in the store (see the module docstring)."""


@click.group("storage")
def storage():
    """Blob storage maintenance."""


@storage.command("sweep")
@click.option("--remove", is_flag=True, help="Delete unreferenced blobs the store's retention and holds allow")
@with_appcontext
def sweep(remove):
    """Report blobs nothing references (a crash between blob and row, a refused upload), and
    direct uploads staged longer ago than FIELDPROOF_STAGING_MAX_AGE_HOURS and never completed.

    Evidence items, thumbnails, packet volumes and bundles count as referenced.
    Exit 0 when nothing is left unreferenced or abandoned afterwards, 1 otherwise (so monitoring
    can alert).
    """
    from evidence.services import sweep_staging, sweep_storage

    runtime = current_app.extensions["fieldproof"]
    with runtime.db.transaction() as session:
        report = sweep_storage(session, runtime.blobs, remove=remove, references=BLOB_REFERENCES)
    for key in report.unreferenced:
        state = "removed" if key in report.removed else ("kept (retained or held)" if remove else "unreferenced")
        click.echo(f"{key}\t{state}")
    max_age = timedelta(hours=runtime.settings.staging_max_age_hours)
    staging = sweep_staging(runtime.blobs, older_than=max_age, remove=remove)
    for upload_id in staging.abandoned:
        click.echo(f"staging/{upload_id}\t{'removed' if upload_id in staging.removed else 'abandoned'}")
    click.echo(f"scanned {report.scanned} blobs: {len(report.unreferenced)} unreferenced, "
               f"{len(report.removed)} removed, {len(report.kept)} kept by retention or legal hold; "
               f"{len(staging.abandoned)} abandoned uploads, {len(staging.removed)} removed")
    left = len(report.unreferenced) - len(report.removed) + len(staging.abandoned) - len(staging.removed)
    raise SystemExit(0 if left == 0 else 1)


COMMANDS: list = [storage]
