"""Placement intake: generated rows validated and loaded, on SQLite and on PostgreSQL.

For each back end: N rows (default 100,000) written as a CSV file, then imported the way the job
imports them (`valid_rows`: read, validated by the API's case schema, identity numbers encrypted,
written in batches with their timeline entries, reported per row). Printed: rows per second, the
peak RSS of the process, and where the time goes per row — parsing (reading the CSV alone),
validation (the schema alone), encryption (national id and phone alone), and writing (the rest).
Baseline, same run, same database: a bare bulk insert of the same rows (already validated and
encrypted: only the INSERTs of cases and addresses). Ratio = import / bare insert.
Targets: at least 2,000 rows/s on each back end; peak RSS under 256 MB.

Run: python bench/intake_bench.py [--rows 100000] [--pg-url URL] [--sqlite-only]
(without --pg-url a throwaway PostgreSQL cluster is started with scripts/pg-start.sh).
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from types import SimpleNamespace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = ["reference", "debtor_name", "national_id", "phone", "card_last4", "currency", "amount_overdue",
          "days_past_due", "jurisdiction", "home_line", "home_city", "home_country", "home_lat", "home_lon"]


def generate(path: Path, rows: int, prefix: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for n in range(rows):
            writer.writerow([f"{prefix}-{n:07d}", f"Debtor {n}", f"1101011990{n:08d}", f"+86 139 {n:08d}",
                             f"{n % 10000:04d}", "CNY", f"{(n % 50000) + 100}.{n % 100:02d}", str(n % 720),
                             "CN", f"{n % 999 + 1} Century Avenue", "Shanghai", "CN",
                             f"{31 + (n % 1000) / 10000:.4f}", f"{121 + (n % 1000) / 10000:.4f}"])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(database_url: str, rows: int, work: Path) -> dict:
    from sqlalchemy import select

    from api.app import create_app
    from api.dbtools import upgrade
    from api.runtime import load_job_modules
    from accounts.models import User
    from cases.models import Portfolio
    from core.settings import Settings
    from placements.models import Placement
    from placements.reading import read_rows
    from placements.services import _run, validate_row

    upgrade(database_url)
    settings = Settings(data_dir=work / "data", database_url=database_url, secret_key="bench-" + "x" * 40,
                        log_level="WARNING")
    app = create_app(settings)
    runtime = app.extensions["fieldproof"]
    load_job_modules()
    tag = uuid.uuid4().hex[:6]
    source = work / f"placement-{tag}.csv"
    generate(source, rows, f"B{tag}")
    with runtime.db.transaction() as session:
        portfolio = session.scalar(select(Portfolio).limit(1))
        user = User(username=f"bench-{tag}", role="admin", display_name="bench", password_hash="x")
        session.add(user)
        session.flush()
        placement = Placement(portfolio_id=portfolio.id, mode="valid_rows", status="running", progress=0.0,
                              counts={}, file_name="bench.csv", file_kind="csv", file_sha256="0" * 64,
                              file_size=source.stat().st_size, column_map={}, requested_by=user.id)
        session.add(placement)
        session.flush()
        placement_id, portfolio_id, user_id = placement.id, portfolio.id, user.id

    with rss_sampled() as rss:
        started = time.perf_counter()
        counts = _run(runtime, placement_id, source, work / f"report-{tag}.csv", "valid_rows")
        total = time.perf_counter() - started
    assert counts["accepted"] == rows, counts

    # the parts, each alone over the same rows, streamed as the import streams them
    started = time.perf_counter()
    for _ in read_rows(source, "csv", {}):
        pass
    parsing = time.perf_counter() - started
    validation = encryption = 0.0
    cipher = runtime.cipher
    clock = time.perf_counter
    for _n, row, _f in read_rows(source, "csv", {}):
        started = clock()
        validate_row(row)
        validation += clock() - started
        started = clock()
        cipher.encrypt(row["national_id"], "cases.national_id")
        cipher.encrypt(row["phone"], "cases.phone")
        encryption += clock() - started

    # baseline: a bare bulk insert of the same rows, validated and encrypted beforehand (per chunk of
    # 1,000, as the import batches); only the INSERTs of cases and addresses are timed
    bare = 0.0
    with runtime.db.transaction() as session:
        chunk: list = []
        for _n, row, _f in read_rows(source, "csv", {}):
            chunk.append(validate_row(row)[0])
            if len(chunk) == 1000:
                bare += _bare_insert(session, chunk, cipher, portfolio_id, user_id)
                chunk = []
        if chunk:
            bare += _bare_insert(session, chunk, cipher, portfolio_id, user_id)
    runtime.db.dispose()
    source.unlink()
    writing = max(total - parsing - validation - encryption, 0.0)
    return {"rows": rows, "total_s": total, "rows_per_s": rows / total, "bare_rows_per_s": rows / bare,
            "ratio": bare / total, "per_row_us": {"parsing": parsing / rows * 1e6, "validation": validation / rows * 1e6,
                                                  "encryption": encryption / rows * 1e6,
                                                  "writing": writing / rows * 1e6},
            "peak_rss_mb": rss.peak / (1 << 20), "process_peak_rss_mb": peak_rss_mb()}


def _bare_insert(session, loaded: list, cipher, portfolio_id: str, user_id: str) -> float:
    from sqlalchemy import insert

    from cases.models import Address, Case
    from core.crypto import mask_tail

    case_rows, address_rows = [], []
    for d in loaded:
        case_id = str(uuid.uuid4())
        nid, phone = d["debtor"]["national_id"], d["debtor"]["phone"]
        case_rows.append({"id": case_id, "reference": "X" + d["reference"], "portfolio_id": portfolio_id,
                          "status": "open", "debtor_name": d["debtor"]["name"],
                          "debtor_national_id_encrypted": cipher.encrypt(nid, "cases.national_id"),
                          "debtor_national_id_masked": mask_tail(nid),
                          "debtor_phone_encrypted": cipher.encrypt(phone, "cases.phone"),
                          "debtor_phone_masked": mask_tail(phone), "card_last4": d["card_last4"],
                          "currency": d["currency"], "amount_overdue": d["amount_overdue"],
                          "days_past_due": d["days_past_due"], "jurisdiction": d["jurisdiction"],
                          "cease_contact": False, "attorney_represented": False,
                          "workplace_contact_prohibited": False, "created_by": user_id})
        address_rows.extend({"id": str(uuid.uuid4()), "case_id": case_id, **a} for a in d["addresses"])
    started = time.perf_counter()
    session.execute(insert(Case), case_rows)
    session.execute(insert(Address), address_rows)
    return time.perf_counter() - started


@contextmanager
def rss_sampled(interval: float = 0.01):
    """The process's peak RSS while the block runs (sampled on a helper thread)."""
    import psutil

    process, done = psutil.Process(), threading.Event()
    figures = SimpleNamespace(peak=process.memory_info().rss)

    def sample():
        while not done.is_set():
            figures.peak = max(figures.peak, process.memory_info().rss)
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield figures
    finally:
        done.set()
        sampler.join()


def child(args) -> None:
    """One back end per process, so that each peak RSS is its own."""
    import json

    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        work = Path(tmp)
        url = args.child_url or f"sqlite:///{work / 'bench.db'}"
        print(json.dumps(measure(url, args.rows, work)))


def report(name: str, figures: dict) -> None:
    per = figures["per_row_us"]
    print(f"{name}: {figures['rows']} rows in {figures['total_s']:.1f} s = {figures['rows_per_s']:.0f} rows/s "
          f"(target >= 2000); peak RSS during the import {figures['peak_rss_mb']:.0f} MB (target < 256; the "
          f"whole bench process, measuring the parts too: {figures['process_peak_rss_mb']:.0f} MB)")
    print(f"  per row: parsing {per['parsing']:.0f} us, validation {per['validation']:.0f} us, "
          f"encryption {per['encryption']:.0f} us, writing (rest) {per['writing']:.0f} us")
    print(f"  baseline bare bulk insert: {figures['bare_rows_per_s']:.0f} rows/s; "
          f"import / bare = {figures['ratio']:.2f}")


def main() -> None:
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pg-url")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    def run(url: str | None) -> dict:
        command = [sys.executable, __file__, "--child", "--rows", str(args.rows)] + (["--child-url", url] if url else [])
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    report("SQLite", run(None))
    if args.sqlite_only:
        return
    with tempfile.TemporaryDirectory(prefix="intake-bench-pg-") as tmp:
        started_pg = None
        url = args.pg_url
        if not url:
            from tests.e2e.processes import free_port

            env = dict(os.environ, PG_BASE=str(Path(tmp) / "pg"), PG_PORT=str(free_port()))
            out = subprocess.run([str(ROOT / "scripts" / "pg-start.sh")], env=env, check=True,
                                 capture_output=True, text=True).stdout
            url, started_pg = out.strip().splitlines()[-1], env
        try:
            report("PostgreSQL", run(url))
        finally:
            if started_pg is not None:
                subprocess.run([str(ROOT / "scripts" / "pg-stop.sh")], env=started_pg, check=False,
                               capture_output=True)


if __name__ == "__main__":
    main()
