"""The `fieldproof` command: a Flask CLI group over `create_app`."""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from api.app import create_app


def _app_factory():
    app = create_app()
    context = click.get_current_context(silent=True)
    if context is not None:
        context.find_root().call_on_close(lambda: _stop_sequencer(app))
    return app


def _stop_sequencer(app) -> None:
    """A command's sequencer ends with the command. If it holds the election it first integrates
    what is queued (its own events among them); otherwise they wait for the elected process's."""
    sequencer = app.extensions["fieldproof"].extras.get("sequencer")
    if sequencer is None:
        return
    if sequencer.leader:
        sequencer.wait_until_idle(sequencer.merge_delay_ms / 1000)
    sequencer.stop()


@click.group(cls=FlaskGroup, create_app=_app_factory, add_default_commands=True, add_version_option=False)
def main():
    """FieldProof: field visits, evidence and a verifiable custody ledger."""


@main.group()
def db():
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision):
    """Apply migrations up to REVISION."""
    from api.dbtools import upgrade

    upgrade(current_app.extensions["fieldproof"].settings.database_url, revision)
    click.echo(f"database at {revision}")


@db.command("check")
@with_appcontext
def db_check():
    """Exit 1 when the models and the migrated database disagree."""
    from api.dbtools import schema_drift

    drift = schema_drift(current_app.extensions["fieldproof"].db.engine)
    for difference in drift:
        click.echo(f"drift: {difference}")
    sys.exit(1 if drift else 0)


@main.group()
def users():
    """User accounts."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["admin", "supervisor", "collector", "legal", "auditor"]))
@click.option("--display-name", default="")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from standard input")
@with_appcontext
def users_create(username, role, display_name, password_stdin):
    """Create a user; the password comes from standard input (one trailing newline stripped)."""
    from accounts.services import create_user
    from core.errors import FieldProofError

    password = sys.stdin.read()
    if password.endswith("\n"):
        password = password[:-1]
        if password.endswith("\r"):
            password = password[:-1]
    try:
        with current_app.extensions["fieldproof"].db.transaction() as session:
            user = create_user(session, username=username, role=role, password=password, display_name=display_name)
            click.echo(f"created {user.role} {user.username} ({user.id})")
    except FieldProofError as error:
        raise click.ClickException(error.detail) from None


@main.command("run")
@click.option("--host", "-h", default="127.0.0.1", show_default=True, help="The interface to bind to.")
@click.option("--port", "-p", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--threads", type=click.IntRange(1, 64), default=None,
              help="Request threads of the one worker process  [default: FIELDPROOF_WEB_THREADS or 8]")
@click.option("--reload", is_flag=True, help="Restart when a source file changes (development).")
def run(host, port, threads, reload):
    """Serve the app with gunicorn: one worker process with threads, background jobs in it."""
    import os

    from api.serve import DEFAULT_THREADS, serve

    threads = threads or int(os.environ.get("FIELDPROOF_WEB_THREADS") or DEFAULT_THREADS)
    serve(host, port, threads=threads, reload=reload)


@main.command("demo")
@with_appcontext
def demo():
    """Load a demo organisation and its story once (visits, evidence, promises, packets, a
    verification, a checkpoint: api/demo_story.py) and print the logins; a second run changes nothing."""
    from api.demo import load_demo

    for line in load_demo(current_app.extensions["fieldproof"]):
        click.echo(line)


def _add_feature_commands() -> None:
    import importlib

    from api.commands import COMMAND_MODULES

    for name in COMMAND_MODULES:
        for command in importlib.import_module(name).COMMANDS:
            main.add_command(command)


_add_feature_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
