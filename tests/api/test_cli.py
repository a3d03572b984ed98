import pytest
from click.testing import CliRunner

from api.cli import main


def run(settings, *args, input=None, env=None):
    env = {"FIELDPROOF_DATA_DIR": str(settings.data_dir), "FIELDPROOF_DATABASE_URL": settings.database_url,
           "FIELDPROOF_SECRET_KEY": settings.secret_key, **(env or {})}
    return CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)


def _sequencers() -> set:
    import threading

    return {thread for thread in threading.enumerate() if thread.name == "ledger-sequencer"}


def test_a_commands_sequencer_ends_with_the_command(settings):
    """A command run in queued mode starts a sequencer like any process; none outlives the command
    (run in-process, a left-over thread kept the election and sequenced the next test's events)."""
    before = _sequencers()
    result = run(settings, "ledger", "checkpoint", env={"FIELDPROOF_LEDGER_SEQUENCER": "queued"})
    assert result.exit_code == 0, result.output
    assert _sequencers() == before


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


def _row_counts(database_url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, func, select

    from api.dbtools import load_models

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {table.name: connection.scalar(select(func.count()).select_from(table))
                    for table in load_models().sorted_tables}
    finally:
        engine.dispose()


def _files(data_dir) -> list[str]:
    """Every file under the data dir but SQLite's own journals, which come and go."""
    return sorted(str(path.relative_to(data_dir)) for path in data_dir.rglob("*")
                  if path.is_file() and not path.name.endswith(("-wal", "-shm", "-journal")))


def _demo_token(client, output: str, username: str) -> dict:
    import re

    password = re.search(rf"username {re.escape(username)}\s+password (\S+)", output).group(1)
    token = client.post("/api/v1/auth/tokens", json={"username": username, "password": password})
    assert token.status_code == 201, token.json
    return {"Authorization": f"Bearer {token.json['access_token']}"}


@pytest.mark.slow  # two packets rendered: about five seconds
def test_demo_loads_the_whole_story_once(settings, client):
    """On an empty database the demo fills every list a newcomer opens; a second run changes no row."""
    first = run(settings, "demo")
    assert first.exit_code == 0, first.output
    assert "20 cases" in first.output and "demo story loaded" in first.output
    before = _row_counts(settings.database_url)
    blobs = _files(settings.data_dir)
    second = run(settings, "demo")
    assert second.exit_code == 0 and "already loaded" in second.output
    assert "demo story loaded" not in second.output
    assert _row_counts(settings.database_url) == before
    assert _files(settings.data_dir) == blobs  # no blob, packet or key written again

    supervisor = _demo_token(client, first.output, "demo-supervisor")
    legal = _demo_token(client, first.output, "demo-legal")
    auditor = _demo_token(client, first.output, "demo-auditor")
    cases = client.get("/api/v1/cases?q=DEMO-0021", headers=supervisor).json
    assert [c["reference"] for c in cases] == ["DEMO-0021"]
    case_id = cases[0]["id"]
    done = client.get("/api/v1/visits?status=completed", headers=supervisor).json
    assert sorted(v["check_in"]["within_geofence"] for v in done) == [False, True]  # one checked in outside: flagged
    assert client.get("/api/v1/visits?status=scheduled", headers=supervisor).json  # the organisation's
    evidence = client.get(f"/api/v1/cases/{case_id}/evidence", headers=supervisor).json
    assert sorted(e["kind"] for e in evidence) == ["document", "note", "photo", "photo"]   # the notice's PDF
    assert {e["signature_status"] for e in evidence
            if not e.get("derived_from") and e["kind"] != "document"} == {"signed"}   # captures, not the notice
    assert [e for e in evidence if e.get("derived_from")], "the redacted copy"
    assert all(e["status"] == "sealed" for e in evidence)
    packets = client.get(f"/api/v1/cases/{case_id}/packets", headers=legal).json
    assert sorted((p["language"], p["status"]) for p in packets) == [("en", "ready"), ("zh-CN", "ready")]
    verifications = client.get("/api/v1/verifications", headers=auditor).json
    assert [(v["status"], v["failed"]) for v in verifications] == [("passed", 0)]
    assert client.get("/api/v1/ledger/checkpoints", headers=auditor).json
    assert before["custody_events"] > 0
    assert client.get("/api/v1/ledger/head", headers=auditor).json["tree_size"] > 0
    promises = client.get("/api/v1/reports/promises", headers=supervisor).json
    assert [p["status"] for p in promises] == ["broken"]
    timeline = client.get(f"/api/v1/cases/{case_id}/timeline", headers=supervisor).json
    kinds = {event["type"] for event in timeline}
    assert {"promise_made", "promise_kept", "visit_checked_in", "visit_checked_out", "notice_issued",
            "contact_recorded"} <= kinds
    notices = client.get(f"/api/v1/cases/{case_id}/notices", headers=legal).json
    assert len(notices) == 1 and notices[0]["evidence_id"] in {e["id"] for e in evidence}
    contacts = client.get(f"/api/v1/cases/{case_id}/contacts", headers=supervisor).json
    assert [(c["channel"], c["outcome"]) for c in contacts] == [("call", "no_answer"), ("call", "spoke_debtor")]


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
    errors = [line for line in result.stderr.splitlines()
              if " ERROR " in line or '"level": "ERROR"' in line or "Traceback" in line]
    assert errors == []


def _served(tmp_path, **env_extra):
    """`fieldproof run` on a free port over a new data dir (migrated, one admin), as `make run` starts it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.e2e.processes import Process, base_env, free_port, http_get, wait_for

    env = {**base_env(), "FIELDPROOF_DATA_DIR": str(tmp_path / "data"), **env_extra}
    cli = str(Path(sys.executable).with_name("fieldproof"))
    for argv, stdin in (([cli, "db", "upgrade"], None),
                        ([cli, "users", "create", "--username", "ada", "--role", "admin", "--password-stdin"],
                         "a long password\n")):
        done = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    port = free_port()
    server = Process("fieldproof-run", [cli, "run", "--host", "127.0.0.1", "--port", str(port)], env,
                     tmp_path / "run.log").start()
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_get(url + "/healthz", timeout=2)[0] == 200, timeout=60, what="fieldproof run to serve",
             alive=server.check_alive)
    assert os.path.exists(tmp_path / "data" / "fieldproof.db")
    return server, url


def _run_a_verification(url: str) -> dict:
    """A job-producing request: the verification runs on the worker process's in-process runner."""
    import json

    from tests.e2e.processes import http_get, post_json, wait_for

    status, token = post_json(url + "/api/v1/auth/tokens", {"username": "ada", "password": "a long password"}, {})
    assert status == 201, token
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    status, accepted = post_json(url + "/api/v1/verifications", {"scope": "all"}, headers)
    assert status == 202, accepted

    def finished():
        code, body = http_get(f"{url}/api/v1/verifications/{accepted['id']}", headers)
        report = json.loads(body)
        return report if code == 200 and report["status"] not in ("queued", "running") else None

    return wait_for(finished, timeout=60, what="the verification job to finish")


def _server_lines(path) -> list[str]:
    """The server's output, without the header line the harness writes before starting it."""
    return [line for line in path.read_text().splitlines() if line and not line.startswith("===== ")]


@pytest.mark.slow  # a migrated data dir and a server: about ten seconds
def test_run_serves_with_gunicorn_and_runs_jobs_in_its_worker(tmp_path):
    """No development server; background jobs still run; plain one-line text logs by default."""
    import re

    server, url = _served(tmp_path)
    try:
        assert _run_a_verification(url)["status"] == "passed"
    finally:
        server.stop()
    lines = _server_lines(tmp_path / "run.log")
    text = "\n".join(lines)
    assert "development server" not in text.lower() and "Traceback" not in text
    assert "Booting worker" in text  # gunicorn's own lines, through the same formatter
    line = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) +\S+ ")
    assert [entry for entry in lines if not line.match(entry)] == []
    assert [entry for entry in lines if " ERROR " in entry or " CRITICAL " in entry] == []
    access = [entry for entry in lines if " fieldproof.access " in entry and "/api/v1/verifications" in entry]
    assert access and all(re.search(r"\[[0-9a-f]{32}\] request ", entry) for entry in access)


@pytest.mark.slow
def test_run_logs_json_when_asked(tmp_path):
    import json

    server, url = _served(tmp_path, FIELDPROOF_LOG_FORMAT="json")
    try:
        assert _run_a_verification(url)["status"] == "passed"
    finally:
        server.stop()
    lines = _server_lines(tmp_path / "run.log")
    records = [json.loads(entry) for entry in lines]  # every line, gunicorn's too
    assert {record["name"] for record in records} >= {"gunicorn.error", "fieldproof.access"}
    assert [r for r in records if r["level"] in ("ERROR", "CRITICAL")] == []
    assert all(r.get("request_id") for r in records if r["name"] == "fieldproof.access")
