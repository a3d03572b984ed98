"""`fieldproof storage sweep`: blobs that no evidence row references, removed where retention allows."""
import click
from flask import current_app
from flask.cli import with_appcontext


@click.group("storage")
def storage():
    """Blob storage maintenance."""


@storage.command("sweep")
@click.option("--remove", is_flag=True, help="Delete unreferenced blobs the store's retention and holds allow")
@with_appcontext
def sweep(remove):
    """Report blobs no evidence row references (a crash between blob and row, a refused upload).

    Exit 0 when nothing is left unreferenced afterwards, 1 otherwise (so monitoring can alert).
    """
    from evidence.services import sweep_storage

    runtime = current_app.extensions["fieldproof"]
    with runtime.db.transaction() as session:
        report = sweep_storage(session, runtime.blobs, remove=remove)
    for key in report.unreferenced:
        state = "removed" if key in report.removed else ("kept (retained or held)" if remove else "unreferenced")
        click.echo(f"{key}\t{state}")
    click.echo(f"scanned {report.scanned} blobs: {len(report.unreferenced)} unreferenced, "
               f"{len(report.removed)} removed, {len(report.kept)} kept by retention or legal hold")
    raise SystemExit(0 if len(report.unreferenced) == len(report.removed) else 1)


COMMANDS: list = [storage]
