"""`fieldproof verify-bundle`: offline packet verification that needs no configuration.

A plain click command (no ``with_appcontext``), so the Flask app, its
settings and its database are never created for it.
"""
from __future__ import annotations

import sys

import click

__all__ = ["COMMANDS", "verify_bundle_command"]


@click.command("verify-bundle")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--public-key", "public_key", type=click.File("rb"),
              help="PEM Ed25519 public key to pin; without it the bundle's own key is used and the report says so.")
def verify_bundle_command(bundle, public_key):
    """Verify a packet bundle offline: exit 0 when every hash, signature and ledger proof holds, else 1."""
    from legal_docs.verify_bundle import format_report, verify_bundle

    report = verify_bundle(bundle, public_key.read() if public_key is not None else None)
    click.echo(format_report(report))
    sys.exit(0 if report.ok else 1)


COMMANDS: list = [verify_bundle_command]
