from click.testing import CliRunner

from api.cli import main


def run(settings, *args, input=None):
    env = {"FIELDPROOF_DATA_DIR": str(settings.data_dir), "FIELDPROOF_DATABASE_URL": settings.database_url,
           "FIELDPROOF_SECRET_KEY": settings.secret_key}
    return CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)


def test_users_create_reads_the_password_from_stdin(settings, client):
    result = run(settings, "users", "create", "--username", "dana", "--role", "legal", "--password-stdin",
                 input="a long password\n")
    assert result.exit_code == 0, result.output
    assert "created legal dana" in result.output
    token = client.post("/api/v1/auth/tokens", json={"username": "dana", "password": "a long password"})
    assert token.status_code == 201  # one trailing newline stripped, nothing else


def test_users_create_refuses_duplicates_and_weak_passwords(settings):
    assert run(settings, "users", "create", "--username", "erin", "--role", "admin", "--password-stdin",
               input="long enough\n").exit_code == 0
    assert run(settings, "users", "create", "--username", "erin", "--role", "admin", "--password-stdin",
               input="long enough\n").exit_code == 1
    assert run(settings, "users", "create", "--username", "fay", "--role", "admin", "--password-stdin",
               input="short\n").exit_code == 1


def test_demo_loads_once(settings):
    first = run(settings, "demo")
    assert first.exit_code == 0 and "20 cases" in first.output
    assert "demo-collector" in first.output
    second = run(settings, "demo")
    assert "already loaded" in second.output


def test_db_upgrade_and_check(settings):
    assert run(settings, "db", "upgrade").exit_code == 0
    assert CliRunner().invoke(main, ["db", "check"], env={"FIELDPROOF_DATABASE_URL": settings.database_url,
                                                          "FIELDPROOF_SECRET_KEY": settings.secret_key,
                                                          "FIELDPROOF_DATA_DIR": str(settings.data_dir)}).exit_code == 0


def test_first_start_on_an_empty_data_directory_logs_no_error(tmp_path):
    """`fieldproof db upgrade` on a new data directory makes an app whose checkpoint timer runs;
    no background job may run before the tables exist (it logged a traceback before)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "FIELDPROOF_DATA_DIR": str(tmp_path), "FIELDPROOF_CHECKPOINT_INTERVAL_SECONDS": "3600"}
    for name in ("FIELDPROOF_DATABASE_URL", "FIELDPROOF_STORAGE_URL", "FIELDPROOF_SECRET_KEY"):
        env.pop(name, None)
    cli = Path(sys.executable).with_name("fieldproof")
    result = subprocess.run([str(cli), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    errors = [line for line in result.stderr.splitlines() if '"level": "ERROR"' in line or "Traceback" in line]
    assert errors == []
