"""`fieldproof verify-bundle`: offline packet verification that needs no configuration.

A plain click command (no ``with_appcontext``), so the Flask app, its
settings and its database are never created for it.
"""
from __future__ import annotations

import os
import sys

import click

__all__ = ["COMMANDS", "verify_bundle_command"]


@click.command("verify-bundle")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--public-key", "public_key", type=click.File("rb"),
              help="PEM Ed25519 public key to pin; without it the bundle's own key is used and the report says so.")
@click.option("--tiles", "tiles", metavar="DIR_OR_URL",
              help="A tlog-tiles copy of the ledger (a directory `fieldproof ledger export-tiles` wrote, or a "
                   "mirror's or the API's URL ending in /ledger/): the bundle's checkpoint and custody proofs are "
                   "also checked against the log as published there.")
@click.option("--tiles-public-key", "tiles_public_key", type=click.File("rb"),
              help="PEM Ed25519 public key that signs the tiles' checkpoint, when the ledger's key was rotated "
                   "after the bundle was built (take it from a trusted source).")
@click.option("--tsa-root", "tsa_root", type=click.File("rb"),
              help="PEM root certificate(s) of the time-stamping authority you trust; the checkpoint's RFC 3161 "
                   "timestamp must then chain to one of them.")
@click.option("--witness-key", "witness_keys", multiple=True,
              help="A witness's C2SP verifier key, or a file holding one (repeatable).")
@click.option("--witnesses", "witnesses_required", type=click.IntRange(min=0),
              help="How many of the --witness-key witnesses must have cosigned (default: all of them).")
def verify_bundle_command(bundle, public_key, tiles, tiles_public_key, tsa_root, witness_keys, witnesses_required):
    """Verify a packet bundle offline: exit 0 when every hash, signature and ledger proof holds, else 1."""
    from pathlib import Path

    from legal_docs.verify_bundle import TrustAnchors, directory_tiles, format_report, verify_bundle

    fetch = None
    if tiles is not None:
        fetch = url_tiles(tiles) if tiles.startswith(("http://", "https://")) else directory_tiles(tiles)
    keys = []
    for given in witness_keys:
        path = Path(given)
        keys.append(path.read_text("utf-8").strip() if path.is_file() else given)
    anchors = TrustAnchors(tsa_roots_pem=tsa_root.read() if tsa_root is not None else None,
                           witness_keys=tuple(keys), witnesses_required=witnesses_required)
    report = verify_bundle(bundle, public_key.read() if public_key is not None else None, tiles=fetch,
                           tiles_name=tiles,
                           tiles_key_pem=tiles_public_key.read() if tiles_public_key is not None else None,
                           anchors=anchors)
    click.echo(format_report(report))
    sys.exit(0 if report.ok else 1)


def url_tiles(prefix: str):
    """Reads tiles over HTTP(S) from `prefix` (a static mirror, or the API's `/api/v1/ledger/`, which
    takes the token in FIELDPROOF_API_TOKEN)."""
    from custody.mirrors import url_tiles as reader

    token = os.environ.get("FIELDPROOF_API_TOKEN")
    return reader(prefix, headers={"Authorization": f"Bearer {token}"} if token else None)


COMMANDS: list = [verify_bundle_command]
