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
