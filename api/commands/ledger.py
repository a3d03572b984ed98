"""`fieldproof keys rotate`, `fieldproof ledger checkpoint` and `fieldproof ledger export-tiles`."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.group("keys")
def keys():
    """The ledger's signing keys."""


@keys.command("rotate")
@with_appcontext
def keys_rotate():
    """Put a new signing key in place; the old file stays (retired) so old checkpoints still verify."""
    from custody.checkpoints import rotate_signing_key

    runtime = current_app.extensions["fieldproof"]
    with runtime.db.transaction() as session:
        old_id, head = rotate_signing_key(session, runtime)
    click.echo(f"retired key {old_id or '(none)'}")
    click.echo(f"new key {head.key_id}; checkpoint {head.id} signed with it at tree size {head.tree_size}")


@click.group("ledger")
def ledger():
    """The custody ledger."""


@ledger.command("checkpoint")
@with_appcontext
def ledger_checkpoint():
    """Sign and keep a checkpoint of the current tree now, and print it."""
    from custody.checkpoints import issue_checkpoint, tree_head

    runtime = current_app.extensions["fieldproof"]
    with runtime.db.transaction() as session:
        head = tree_head(session, issue_checkpoint(session, runtime.signer, runtime.settings.ledger_origin))
    click.echo(f"checkpoint {head.id}: tree size {head.tree_size}, root {head.root_hash}, key {head.key_id}")
    click.echo(head.note, nl=False)


COMMANDS = [keys, ledger]


@ledger.command("export-tiles")
@click.argument("directory", type=click.Path(file_okay=False, writable=True))
@with_appcontext
def ledger_export_tiles(directory):
    """Write the log as C2SP tlog-tiles under DIRECTORY (checkpoint, tile/…, tile/entries/…).

    Run it again (e.g. from cron, then rsync the directory to a static host): full tiles already
    there are kept as they are, only new ones and the checkpoint are written, each atomically.
    """
    from custody.checkpoints import current_tree_head
    from custody.tiles import export_tiles

    runtime = current_app.extensions["fieldproof"]
    with runtime.db.transaction() as session:
        head = current_tree_head(session, runtime.signer, runtime.settings.ledger_origin)
        export = export_tiles(session, directory, head.note, head.tree_size)
    click.echo(f"checkpoint {head.id} at tree size {export.tree_size}: wrote {len(export.written)} files, "
               f"{export.unchanged} already there")
