"""`fieldproof witness`: cosign the ledger's checkpoints after checking it only grew.

A plain click command (no app context): an auditor or partner runs it on their own machine,
with their own key and state file, against the ledger's URL; it never touches our database.
"""
from __future__ import annotations

import os
import sys
import time

import click

__all__ = ["COMMANDS", "witness_command"]


@click.command("witness")
@click.option("--url", help="The FieldProof server, e.g. https://fieldproof.example.com")
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The witness's Ed25519 private key, PEM (PKCS#8)")
@click.option("--state", "state_file", type=click.Path(dir_okay=False),
              help="The witness's state file (created on first run, kept between runs)")
@click.option("--name", help="The witness's key name, e.g. audit.example.com/witness (kept in the state file)")
@click.option("--log-vkey", help="The log's verifier key, confirmed out of band (default: pinned on first run)")
@click.option("--print-vkey", is_flag=True, help="Print the witness's verifier key (for the admin to register) and exit")
def witness_command(url, key_file, state_file, name, log_vkey, print_vkey):
    """Fetch the latest checkpoint, check it extends the last one cosigned, and cosign it.

    Exit 0 when cosigned; 2 when the log showed a split view, a rollback or a changed key
    (nothing is cosigned, and the message says what was seen); 1 on any other failure.
    The API token comes from FIELDPROOF_API_TOKEN.
    """
    from custody.cosigner import LedgerClient, WitnessError, WitnessRefusal, load_witness_key, run_witness, witness_vkey

    try:
        key = load_witness_key(key_file)
        if print_vkey:
            if not name:
                raise click.UsageError("--print-vkey needs --name")
            click.echo(witness_vkey(key, name))
            return
        if not url or not state_file:
            raise click.UsageError("--url and --state are required to cosign")
        token = os.environ.get("FIELDPROOF_API_TOKEN")
        if not token:
            raise click.UsageError("set FIELDPROOF_API_TOKEN to an API token (an auditor's)")
        run = run_witness(LedgerClient(url, token), key, state_file, name, log_vkey, int(time.time()))
    except WitnessRefusal as refusal:
        click.echo(f"WITNESS REFUSED TO COSIGN [{refusal.code}]: {refusal}", err=True)
        click.echo("This may be evidence that the log operator rewrote or forked the ledger: keep the state file "
                   "and the note, and report it.", err=True)
        sys.exit(2)
    except ValueError as error:  # a malformed vkey given or served
        click.echo(f"witness failed: {error}", err=True)
        sys.exit(1)
    except WitnessError as error:
        click.echo(f"witness failed: {error}", err=True)
        sys.exit(1)
    click.echo(f"cosigned tree size {run.tree_size}, root {run.root_hash}")
    click.echo(run.cosignature, nl=False)


COMMANDS: list = [witness_command]
