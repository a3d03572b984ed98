"""`fieldproof keys rotate` and `fieldproof ledger` (checkpoint, export-tiles, verify-tiles)."""
from __future__ import annotations

import sys

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


@ledger.command("verify-tiles")
@click.argument("source", metavar="DIR_OR_URL")
@click.option("--public-key", "public_key", type=click.File("rb"), required=True,
              help="PEM Ed25519 public key of the ledger (from a trusted source, not from the mirror).")
@click.option("--origin", help="The log's origin line to insist on (default: the checkpoint's own).")
def ledger_verify_tiles(source, public_key, origin):
    """Check a tiles copy of the ledger end to end, offline: exit 0 when it all holds, else 1.

    The checkpoint's signature, every tile against the ones below it and the signed root, every
    entry against its tile hash, and the leaves' chain. Needs no configuration or database.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from api.commands.packets import url_tiles
    from custody.ledger.merkle import VerificationError
    from custody.ledger.mirror import verify_mirror
    from legal_docs.verify_bundle import TilesUnreadable, directory_tiles

    try:
        key = serialization.load_pem_public_key(public_key.read())
    except ValueError as error:
        raise click.BadParameter(f"not a PEM public key: {error}", param_hint="--public-key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise click.BadParameter("not an Ed25519 public key", param_hint="--public-key")
    fetch = url_tiles(source) if source.startswith(("http://", "https://")) else directory_tiles(source)
    try:
        report = verify_mirror(fetch, key, origin)
    except (VerificationError, TilesUnreadable) as error:
        click.echo(f"tiles: {source}\nresult: FAILED\nproblem: [{getattr(error, 'code', 'tiles_unreadable')}] {error}")
        sys.exit(1)
    click.echo(f"tiles: {source}\nresult: VERIFIED\norigin: {report.origin}\ntree size: {report.tree_size}\n"
               f"root: {report.root_hash.hex()}\nkey id: {report.key_id}\n"
               f"checked: {report.files_checked} files, {report.leaves_checked} leaves chained")
