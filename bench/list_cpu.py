"""CPU per request of a collector's sync list, in-process: the WSGI app called directly, no server.

    python bench/list_cpu.py --pg-url postgresql+psycopg://USER@HOST:PORT/DB [--requests 3000] [--rounds 5]
        [--profile FILE] [--path /api/v1/visits?page_size=50]

A fresh database beside the one named (dropped at the end) is migrated and seeded as
`bench/load_bench.py` leaves it before its throughput rounds: 50 collectors with 4 visits each,
checked in and out. The app is built with production settings on PostgreSQL (so the verified-token
cache is live, as on an API node), warmed up as a gunicorn worker is (`api/warmup.py`), and called
with a prepared environ for the list and for `/healthz` (the app's fixed cost), rounds
interleaved. `time.process_time()` per request is the figure: it counts this process's CPU only, so
other tenants of a shared machine move it little (the database server's CPU is not in it). The best
and median round of each are printed; `--profile` writes a cProfile of one more list round.

Runs against any checkout with the same seeding helpers (`tests/e2e/processes.py`), so the same
script measures an older tree with that tree's virtualenv.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(os.environ.get("FIELDPROOF_REPO", Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(REPO))


def fresh_database(pg_url: str) -> str:
    from sqlalchemy import create_engine, make_url, text

    server = make_url(pg_url)
    name = f"list_cpu_{uuid.uuid4().hex[:8]}"
    engine = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, make_url, text

    server = make_url(url)
    engine = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{server.database}" WITH (FORCE)'))
    engine.dispose()


def seed(app, url: str, collectors: int, visits_each: int) -> list[dict]:
    """Collectors with tokens, a case per visit (through the API), visits checked in and out."""
    from sqlalchemy import create_engine, text

    from tests.e2e.processes import case_payload, seed_users, seed_visits

    supervisor, = seed_users(url, ["supervisor"])
    people = seed_users(url, ["collector"] * collectors)
    client = app.test_client()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=10)
    specs = []
    for person in people:
        for v in range(visits_each):
            response = client.post("/api/v1/cases", json=case_payload(person["id"]), headers=supervisor["headers"])
            assert response.status_code == 201, response.get_data(as_text=True)
            specs.append({"case": response.get_json(), "collector_id": person["id"],
                          "scheduled_by": supervisor["id"], "window_start": start + timedelta(hours=2 * v),
                          "status": "completed"})
    seed_visits(url, specs)
    engine = create_engine(url)
    with engine.begin() as connection:  # a finished day: every visit checked in and out
        connection.execute(text(
            "UPDATE visits SET checked_in_at = window_start + interval '10 minutes', checked_in_by = collector_id, "
            "check_in_device_at = to_char((window_start + interval '10 minutes') AT TIME ZONE 'Asia/Shanghai', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS') || '+08:00', check_in_received_at = window_start + interval '11 minutes', "
            "check_in_lat = 31.2354, check_in_lon = 121.5055, check_in_accuracy_m = 12.5, "
            "check_in_distance_m = 3.25, within_geofence = true, outside_window = false, clock_skew_s = 0.4, "
            "impossible_travel = false, checked_out_at = window_start + interval '40 minutes', "
            "check_out_lat = 31.2354, check_out_lon = 121.5055, outcome = 'met_debtor', "
            "summary = 'Met the debtor at home; 见到债务人', flags = '{\"photos\": 2}'"))
    engine.dispose()
    return people


def prepared_environ(app, path: str, token: str | None) -> dict:
    from werkzeug.test import EnvironBuilder

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    builder = EnvironBuilder(path=path, method="GET", headers=headers, base_url="http://127.0.0.1:8000")
    try:
        return builder.get_environ()
    finally:
        builder.close()


def caller(app, environ: dict):
    status_seen = []

    def start_response(status, headers, exc_info=None):
        status_seen.append(status)

    def call() -> bytes:
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(b"")
        status_seen.clear()
        result = app(env, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        return body

    call.status = status_seen
    return call


def cpu_per_request(call, n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - started) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", required=True, help="a PostgreSQL server's URL; a fresh database is made beside it")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--collectors", type=int, default=50)
    parser.add_argument("--visits", type=int, default=4)
    parser.add_argument("--path", default="/api/v1/visits?page_size=50")
    parser.add_argument("--profile", help="write a cProfile of one more list round here (.prof; a text summary beside)")
    args = parser.parse_args()

    from api.app import create_app
    from api.dbtools import upgrade
    from core.keys import write_new_key_file
    from core.settings import Settings

    url = fresh_database(args.pg_url)
    work = Path(tempfile.mkdtemp(prefix="list-cpu-"))
    app = None
    try:
        upgrade(url)
        write_new_key_file(work / "signing.pem")
        environ = {}
        try:  # trees with content credentials need their certificate in production
            from core.keys import write_development_content_credentials
        except ImportError:
            pass
        else:
            write_development_content_credentials(work / "c2pa-chain.pem", work / "c2pa-key.pem", "list cpu")
            environ = {"FIELDPROOF_C2PA_CERT_FILE": str(work / "c2pa-chain.pem"),
                       "FIELDPROOF_C2PA_KEY_FILE": str(work / "c2pa-key.pem")}
        settings = Settings.from_env({
            "FIELDPROOF_ENV": "production", "FIELDPROOF_DATA_DIR": str(work), "FIELDPROOF_DATABASE_URL": url,
            "FIELDPROOF_STORAGE_URL": f"file://{work / 'blobs'}", "FIELDPROOF_SIGNING_KEY_FILE": str(work / "signing.pem"),
            "FIELDPROOF_SECRET_KEY": "list-cpu-secret-0123456789-abcdefghijklmnop", "FIELDPROOF_JOBS": "thread",
            "FIELDPROOF_CHECKPOINT_INTERVAL_SECONDS": "0", "FIELDPROOF_LOG_LEVEL": "WARNING", **environ,
        })
        app = create_app(settings)
        people = seed(app, url, args.collectors, args.visits)
        from api.warmup import warm_up

        warm_up(app, 4)
        token = people[0]["token"]
        calls = {"list": caller(app, prepared_environ(app, args.path, token)),
                 "healthz": caller(app, prepared_environ(app, "/healthz", None))}
        for call in calls.values():
            body = call()
            assert call.status[0].startswith("200"), (call.status, body[:300])
        body = calls["list"]()
        print(f"list: {calls['list'].status[0]}, {len(body)} bytes, {body.count(b'case_id')} visits; "
              f"load {os.getloadavg()[0]:.2f}; python {sys.version.split()[0]}; tree {REPO}", flush=True)
        for call in calls.values():
            cpu_per_request(call, 200)  # warm
        figures = {name: [] for name in calls}
        for round_ in range(1, args.rounds + 1):
            for name, call in calls.items():
                figures[name].append(cpu_per_request(call, args.requests))
            print(f"round {round_}: " + ", ".join(f"{name} {figures[name][-1] * 1e6:.0f} µs" for name in calls),
                  flush=True)
        for name, values in figures.items():
            print(f"{name}: best {min(values) * 1e6:.0f} µs, median {statistics.median(values) * 1e6:.0f} µs CPU "
                  f"per request ({args.rounds} x {args.requests})")
        best = {name: min(values) for name, values in figures.items()}
        print(f"list beyond healthz: best {(best['list'] - best['healthz']) * 1e6:.0f} µs")
        if args.profile:
            profile = cProfile.Profile(time.process_time)  # CPU, not wall time (waits on the server)
            profile.enable()
            for _ in range(args.requests):
                calls["list"]()
            profile.disable()
            profile.dump_stats(args.profile)
            text = io.StringIO()
            stats = pstats.Stats(profile, stream=text)
            stats.sort_stats("tottime").print_stats(45)
            stats.sort_stats("cumulative").print_stats(80)
            Path(args.profile + ".txt").write_text(text.getvalue())
            print(f"profile: {args.profile} (+ .txt)")
        print(f"load {os.getloadavg()[0]:.2f} at the end")
    finally:
        if app is not None:
            from tests.conftest import shut_down

            shut_down(app)
        drop_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
