"""Load test of the production shape: N collectors sync a day's work against gunicorn + PostgreSQL +
S3 (RADOS Gateway) + Celery/Redis, then an audit, then list-endpoint throughput vs hello-world.

    python bench/load_bench.py [--collectors 50] [--spawn-rate 10] [--photos 20] [--visits 4] [--drop-rate 0.05]
                               [--photo-path direct|stream] [--pools split|single]
                               [--ingest-nice 10] [--ingest-db-nice 10] [--rgw-nice 10] [--client-nice -5]
                               [--pg-url URL] [--s3-endpoint URL] [--api-url URL --broker-url URL]

Without --pg-url / --s3-endpoint it starts a throwaway PostgreSQL (scripts/pg-start.sh) and RADOS
Gateway (scripts/rgw-start.sh, bluestore: a day of photos outgrows the 2 GB memstore) and stops
them at the end. It always starts its own Redis, Celery worker and gunicorn (2 workers, the
settings of deploy/gunicorn.conf.py) unless --api-url names running ones (then --broker-url is
ignored and --pg-url must be the database behind it, for seeding and the audit).

Pools (--pools split, the default): as in docs/deploy.md, uploads and sealing (`POST /evidence`,
`/evidence/uploads`, `/evidence/{id}/content`, `/evidence/{id}/complete`, and notes,
`/visits/{id}/notes`, which store an object too) and check-in and check-out (which wait their turn
at the custody ledger's head) go to an "ingest" gunicorn pool and everything else to the API pool.
nginx routes by location in production; here the client sends each request to the pool nginx would
(there is no nginx in this environment). On a real deployment the two pools, and the S3 cluster, are
separate machines; on this one 2-core machine the ingest pool and the RADOS Gateway daemons (when
this script starts them) run at a lower CPU priority (nice --ingest-nice / --rgw-nice) to stand in
for that separation. The output says which arrangement each figure came from. `--pools single`
serves everything from one pool at normal priority (the arrangement before the split).

The same machine also runs PostgreSQL and this client. The ingest pool connects with
`application_name=fieldproof-ingest`; with --ingest-db-nice N the PostgreSQL backends serving those
connections are reniced to N as they appear (checked every 0.2 s). The default leaves them at normal
priority: in production both pools share the PostgreSQL primary, and a niced backend holds the
ledger head lock (taken last, released at COMMIT) longer, which stalls every other custody write.
The client — one asyncio process standing in for 50 phones that each have their own CPU — is the
measuring instrument: a client starved of CPU adds its own wait to every latency it records, so it
runs at --client-nice (-5) from the start of the load to the end of the throughput phase. Every
arrangement is printed with the figures.

Collectors start --spawn-rate a second (10: the fifty within 5 s, as load tools ramp users up; 0:
all in the same instant, the harshest case, whose first second is fifty cold token lookups and
connections at once), then each, concurrently: lists its visits (the app's sync), and for each visit
checks in, reads the visit, adds a note, uploads its share of the 20 photos (2-4 MB JPEGs generated
once; a JPEG comment segment makes each upload's bytes and hash unique), lists again, and checks
out.
Photos take the mobile app's path on an S3 deployment (API.md, --photo-path direct):
`POST /evidence/uploads`, the bytes PUT straight to the presigned S3 URL, then
`POST /evidence/{id}/complete`, which re-reads, re-hashes and seals them (the sealing cost stays in
the measured write path; the API node never carries the 2-4 MB bodies). `--photo-path stream`
sends them through the API instead (`POST /evidence` multipart).
Every POST carries an Idempotency-Key. A fraction of the POSTs and PUTs (--drop-rate) lose their
connection: half of those are cut mid-body, half after the body was sent but before the answer
was read; the client retries with the same key and the same bytes until it gets an answer.

Audit: every acknowledged item exists exactly once with its hash (API and database), no other
item exists, every visit is completed once, and a verification of scope `all` (every stored
object re-hashed from S3, every ledger leaf, node and checkpoint re-checked) passes.

Throughput: a hello-world Flask app is served by gunicorn with the same config file and worker
settings as the API pool (workers, threads, priority). For --rps-rounds rounds, C keep-alive
connections request `GET /api/v1/visits` (a collector's sync) as fast as they can for
--rps-seconds, then hello world the same way: interleaved, so the other tenants of a shared
machine weigh on both alike. The ratio of all list requests to all hello-world requests per
second is printed (target >= 0.40), with each round's.

The client is asyncio with a minimal HTTP/1.1 client of its own (below, ~80 lines) rather than a
library: it must cut a connection at a chosen byte of a body (httpx and requests give no handle
on that), and its per-request cost must stay small beside the server's, or the hello-world
figure would measure the client. locust (gevent) could do the load but would monkey-patch the
process that also seeds PostgreSQL, drives S3 and manages the services.

Dates: RULES.md lets CN collectors work 08:00-22:00 at the address (Shanghai). Visits are seeded
in the database (scheduling through the API checks the same hours against *now*), created an
hour before the latest lawful stretch of time that has passed, and every check-in, capture and
check-out reports a moment inside that stretch: the shape of a collector syncing a finished day.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHANGHAI = timezone(timedelta(hours=8))
HOME = (31.2354, 121.5055)


# --- hello world (served by gunicorn as `load_bench:hello_app()`) --------------------------------


def hello_app():
    from flask import Flask

    app = Flask("hello")

    @app.get("/")
    def hello():
        return {"hello": "world"}

    return app


# --- a minimal HTTP/1.1 client --------------------------------------------------------------------


class Dropped(Exception):
    """The client cut the connection on purpose (a simulated dropped connection)."""


class Connection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        # A keep-alive connection the server closed while it sat idle (gunicorn's keepalive is 5 s;
        # with two pools a collector's API connection idles while it uploads) is seen at EOF and
        # replaced before use, as HTTP client libraries do, rather than failing the next request.
        if self.writer is not None and not self.writer.is_closing() and self.reader.at_eof():
            self.close()
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()  # RST, no goodbye: what a phone losing its signal looks like
        self.reader = self.writer = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"",
                      *, cut_at: int | None = None, drop_before_answer: bool = False,
                      timeout: float = 120) -> tuple[int, dict[str, str], bytes]:
        await self.open()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        data = ("\r\n".join(head) + "\r\n\r\n").encode()
        try:
            if cut_at is not None:
                self.writer.write(data + body[:cut_at])
                await self.writer.drain()
                self.close()
                raise Dropped("cut mid-body")
            self.writer.write(data)
            view = memoryview(body)
            for offset in range(0, len(body), 1 << 20):
                self.writer.write(view[offset:offset + (1 << 20)])
                await self.writer.drain()
            await self.writer.drain()
            if drop_before_answer:
                self.close()
                raise Dropped("answer not read")
            return await asyncio.wait_for(self._response(), timeout)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, OSError):
            self.close()
            raise

    async def _response(self) -> tuple[int, dict[str, str], bytes]:
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(parts)
        else:
            body = await self.reader.read()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body


# --- measurements ----------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    drops: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    replays: int = 0
    bytes_up: int = 0
    failed_collectors: int = 0
    twin_conflicts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    began: float = field(default_factory=time.monotonic)
    finished_at: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def record(self, endpoint: str, seconds: float) -> None:
        self.latencies[endpoint].append(seconds)
        self.finished_at[endpoint].append(time.monotonic() - self.began)

    def error(self, endpoint: str, what: str) -> None:
        self.errors[endpoint][what] += 1


def loadavg() -> str:
    """The 1/5/15-minute load averages: the machine is shared, so every figure carries them."""
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# --- the day's work ---------------------------------------------------------------------------------


def make_photos() -> list[bytes]:
    """Three camera-like JPEGs of about 2.1, 2.9 and 3.3 MB (noise compresses like a real scene)."""
    from PIL import Image

    from tests.evidence_corpus import photo

    made = []
    for n, (size, quality) in enumerate([((2048, 1536), 90), ((2400, 1800), 90), ((2700, 2000), 88)]):
        base = Image.open(io.BytesIO(photo(size, colour=(60 * n, 120, 200))))
        noise = Image.frombytes("RGB", size, random.Random(n).randbytes(size[0] * size[1] * 3))
        out = io.BytesIO()
        Image.blend(base.convert("RGB"), noise, 0.5).save(out, "JPEG", quality=quality, exif=base.getexif())
        made.append(out.getvalue())
    return made


def unique_jpeg(base: bytes, tag: str) -> bytes:
    """The same picture with a JPEG comment (COM segment) right after SOI: new bytes, new hash."""
    comment = tag.encode()
    return base[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + base[2:]


def prepared_photo(base: bytes, tag: str) -> tuple[bytes, str, str]:
    """A unique photo with its SHA-256 (hex) and MD5 (base64), as the phone computes them before
    uploading. Run on a helper thread (hashlib lets go of the GIL): fifty phones have fifty CPUs,
    and ~10 ms of hashing on the event loop would be added to every request then in flight."""
    data = unique_jpeg(base, tag)
    return data, hashlib.sha256(data).hexdigest(), base64.b64encode(hashlib.md5(data).digest()).decode()


def multipart(metadata: dict, data: bytes) -> tuple[bytes, str]:
    boundary = "fp" + uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{json.dumps(metadata)}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def lawful_day(now: datetime) -> tuple[datetime, datetime]:
    """The latest stretch of Shanghai 08:00-22:00 that lies in the past, at least 2 h long."""
    local = now.astimezone(SHANGHAI)
    today8 = local.replace(hour=8, minute=0, second=0, microsecond=0)
    if local - today8 >= timedelta(hours=2, minutes=5):
        return today8, min(local - timedelta(minutes=5), today8.replace(hour=22))
    yesterday8 = today8 - timedelta(days=1)
    return yesterday8, yesterday8.replace(hour=22)


@dataclass
class Plan:
    collector: dict
    visits: list[dict]  # {"id", "check_in", "check_out", "case_id"}


@dataclass
class Acknowledged:
    collector_id: str
    key: str
    item_id: str
    sha256: str
    kind: str
    case_id: str


class Collector:
    def __init__(self, host: str, port: int, plan: Plan, photos: list[bytes], photos_per_day: int,
                 stats: Stats, drop_rate: float, rng: random.Random, photo_path: str = "direct",
                 ingest: tuple[str, int] | None = None):
        self.conn = Connection(host, port)
        # Uploads, sealing, notes, check-in and check-out: the ingest pool (nginx's routing), else the same API.
        self.ingest = Connection(*ingest) if ingest else self.conn
        self.storage: Connection | None = None  # keep-alive connection to S3 for presigned PUTs
        self.plan, self.photos, self.photos_per_day = plan, photos, photos_per_day
        self.photo_path = photo_path
        self.stats, self.drop_rate, self.rng = stats, drop_rate, rng
        self.auth = {"Authorization": f"Bearer {plan.collector['token']}"}
        self.acknowledged: list[Acknowledged] = []

    async def call(self, endpoint: str, method: str, path: str, body: bytes = b"", content_type: str | None = None,
                   *, key: str | None = None, expect: tuple[int, ...] = (200, 201),
                   conn: Connection | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        """One logical request: retried with the same key and bytes until an answer comes (at most 8 tries).
        `conn`/`headers`: another server (S3) with its own headers instead of this API and the token."""
        conn = conn or self.conn
        headers = dict(self.auth if headers is None else headers)
        if content_type:
            headers["Content-Type"] = content_type
        if key:
            headers["Idempotency-Key"] = key
        twin_in_flight = False
        for attempt in range(8):
            cut_at = drop = None
            if method in ("POST", "PUT") and attempt < 3 and self.rng.random() < self.drop_rate:
                if self.rng.random() < 0.5 and len(body) > 1000:
                    cut_at = self.rng.randrange(len(body) // 10, len(body) * 9 // 10)
                else:
                    drop = True
            started = time.perf_counter()
            try:
                status, headers_in, data = await conn.request(method, path, headers, body, cut_at=cut_at,
                                                              drop_before_answer=bool(drop))
            except Dropped as why:
                self.stats.drops[f"{endpoint} ({why})"] += 1
                twin_in_flight = twin_in_flight or drop is True
                await asyncio.sleep(0.05 * (attempt + 1))
                continue
            except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, OSError) as error:
                self.stats.error(endpoint, type(error).__name__)
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            self.stats.record(endpoint, time.perf_counter() - started)
            if method in ("POST", "PUT"):
                self.stats.bytes_up += len(body)
            if headers_in.get("idempotent-replayed") == "true":
                self.stats.replays += 1
            if status in expect:
                return status, headers_in, data
            if status == 409 and twin_in_flight and key:
                # The dropped attempt is still running on the server: the retry raced it and lost
                # on a domain rule (see the note in docs/deploy.md). Once the first attempt has
                # committed, the same key replays its answer; so wait and ask again.
                self.stats.twin_conflicts[endpoint] += 1
                await asyncio.sleep(0.5 * (attempt + 1))
                continue
            self.stats.error(endpoint, str(status))
            if status < 500 and status not in (408, 429):
                raise RuntimeError(f"{method} {path} -> {status}: {data[:300]!r}")
            await asyncio.sleep(0.2 * (attempt + 1))
        raise RuntimeError(f"{method} {path}: no answer after 8 tries")

    async def post_json(self, endpoint: str, path: str, payload: dict, conn: Connection | None = None) -> dict:
        key = f"{endpoint.split()[1].strip('/').replace('/{id}/', '-').replace('/', '-')}-{uuid.uuid4()}"
        _, _, data = await self.call(endpoint, "POST", path, json.dumps(payload).encode(), "application/json", key=key,
                                     conn=conn)
        return json.loads(data)

    async def direct_upload(self, metadata: dict, data: bytes, md5: str) -> tuple[str, dict]:
        """The app's path for photos on S3 (API.md): announce, PUT the bytes straight to the presigned
        URL (the API node never carries them), then `complete`, which re-reads, re-hashes and seals.
        Announce and complete carry their own Idempotency-Keys; the PUT to the staging key is
        idempotent by itself, so a cut PUT is simply sent again."""
        key = f"upload-{uuid.uuid4()}"
        _, _, answer = await self.call("POST /evidence/uploads", "POST", "/api/v1/evidence/uploads",
                                       json.dumps({**metadata, "size": len(data), "content_md5": md5}).encode(),
                                       "application/json", key=key, conn=self.ingest)
        pending = json.loads(answer)
        target = pending.get("upload")
        if target is not None:
            url = urlsplit(target["url"])
            if self.storage is None:
                self.storage = Connection(url.hostname, url.port or 80)
            headers = {k: v for k, v in target["headers"].items() if k.lower() != "content-length"}
            await self.call("PUT s3 (presigned)", target["method"], f"{url.path}?{url.query}", data,
                            conn=self.storage, headers=headers, expect=(200,))
        _, _, answer = await self.call("POST /evidence/{id}/complete", "POST",
                                       f"/api/v1/evidence/{pending['id']}/complete", key=f"complete-{uuid.uuid4()}",
                                       conn=self.ingest)
        return key, json.loads(answer)

    async def day(self) -> None:
        me = self.plan.collector
        await self.call("GET /visits", "GET", "/api/v1/visits?page_size=50")
        shares = [self.photos_per_day // len(self.plan.visits)] * len(self.plan.visits)
        for n in range(self.photos_per_day - sum(shares)):
            shares[n] += 1
        for visit, photos in zip(self.plan.visits, shares):
            at = visit["check_in"]
            lat, lon = HOME[0] + self.rng.uniform(-2e-4, 2e-4), HOME[1] + self.rng.uniform(-2e-4, 2e-4)
            await self.post_json("POST /visits/{id}/check-in", f"/api/v1/visits/{visit['id']}/check-in",
                                 {"at": at.isoformat(), "lat": lat, "lon": lon, "accuracy_m": 8.0}, conn=self.ingest)
            await self.call("GET /visits/{id}", "GET", f"/api/v1/visits/{visit['id']}")
            note_at = at + timedelta(minutes=2)
            note = await self.post_json("POST /visits/{id}/notes", f"/api/v1/visits/{visit['id']}/notes",
                                        {"text": f"Debtor not at home; neighbour says back at six. {uuid.uuid4()}",
                                         "at": note_at.isoformat()}, conn=self.ingest)
            self.acknowledged.append(Acknowledged(me["id"], "note", note["id"], note["sha256"], "note",
                                                  visit["case_id"]))
            for n in range(photos):
                base = self.photos[self.rng.randrange(len(self.photos))]
                data, sha, md5 = await asyncio.to_thread(
                    prepared_photo, base, f"{me['id']}/{visit['id']}/{n}/{secrets.token_hex(4)}")
                captured = at + timedelta(minutes=3, seconds=20 * n)
                metadata = {"visit_id": visit["id"], "kind": "photo", "sha256": sha,
                            "captured_at": captured.isoformat(timespec="seconds"), "lat": lat, "lon": lon,
                            "accuracy_m": 8.0, "consent": {"subject": "granted", "third_parties_present": False}}
                if self.photo_path == "direct":
                    key, item = await self.direct_upload(metadata, data, md5)
                else:
                    body, content_type = multipart(metadata, data)
                    key = f"photo-{uuid.uuid4()}"
                    _, _, answer = await self.call("POST /evidence", "POST", "/api/v1/evidence", body, content_type,
                                                   key=key, conn=self.ingest)
                    item = json.loads(answer)
                if item["sha256"] != sha or item["status"] != "sealed":
                    raise RuntimeError(f"acknowledged {item['id']} ({item['status']}) with hash {item['sha256']}, "
                                       f"sent {sha}")
                self.acknowledged.append(Acknowledged(me["id"], key, item["id"], sha, "photo", visit["case_id"]))
                if n == 0:
                    await self.call("GET /evidence/{id}", "GET", f"/api/v1/evidence/{item['id']}")
            await self.call("GET /visits", "GET", "/api/v1/visits?page_size=50")
            await self.post_json("POST /visits/{id}/check-out", f"/api/v1/visits/{visit['id']}/check-out",
                                 {"at": visit["check_out"].isoformat(), "lat": lat, "lon": lon,
                                  "outcome": "not_home", "summary": "Nobody answered."}, conn=self.ingest)
        self.conn.close()
        self.ingest.close()
        if self.storage is not None:
            self.storage.close()


# --- services -------------------------------------------------------------------------------------


def renice_daemons(run_dir: Path, niceness: int) -> int:
    """Lower the CPU priority of every thread of the daemons whose pid files are in `run_dir`
    (Linux niceness is per thread; threads made later inherit it). Returns the threads changed."""
    changed = 0
    for pid_file in sorted(run_dir.glob("*.pid")):
        try:
            pid = int(pid_file.read_text().strip())
            tasks = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
        except (OSError, ValueError):
            continue
        for tid in tasks:
            try:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
                changed += 1
            except OSError:
                pass
    return changed



INGEST_APPLICATION = "fieldproof-ingest"


class BackendRenicer(threading.Thread):
    """Renices the PostgreSQL backends of one application_name as they appear (a backend is one
    process per connection, so its niceness is the connection's). Local servers only: the pids
    that pg_stat_activity names must be processes of this machine."""

    def __init__(self, pg_url: str, application: str, niceness: int, interval: float = 0.2):
        super().__init__(name="backend-renicer", daemon=True)
        self.pg_url, self.application, self.niceness, self.interval = pg_url, application, niceness, interval
        self.stopping = threading.Event()
        self.reniced: set[int] = set()

    def run(self) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.pg_url, isolation_level="AUTOCOMMIT", pool_size=1)
        try:
            while not self.stopping.is_set():
                try:
                    with engine.connect() as db:
                        pids = db.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"),
                                          {"a": self.application}).scalars().all()
                except Exception:  # noqa: BLE001 - the server restarting or going away: try again
                    pids = []
                for pid in set(pids) - self.reniced:
                    try:
                        os.setpriority(os.PRIO_PROCESS, pid, self.niceness)
                        self.reniced.add(pid)
                    except OSError:
                        pass
                self.stopping.wait(self.interval)
        finally:
            engine.dispose()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)


class Services:
    """PostgreSQL and S3 (started here unless given), Redis + worker + gunicorn (the production shape)."""

    def __init__(self, args):
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="fieldproof-load-"))
        self.started: list[tuple[str, dict]] = []
        self.shape = None
        self.redis = None
        self.hello = None
        self.ingest = None
        self.ingest_url: str | None = None
        self.started_rgw = False
        self.arrangement: list[str] = []
        self.backend_renicer = None

    def _free_port(self) -> int:
        from tests.e2e.processes import free_port

        return free_port()

    def start(self) -> None:
        from tests.e2e.processes import ProductionShape, ShapeConfig, start_redis

        args = self.args
        if not args.pg_url:
            env = dict(os.environ, PG_BASE=str(self.work / "pg"), PG_PORT=str(self._free_port()))
            out = subprocess.run([str(REPO / "scripts" / "pg-start.sh")], env=env, check=True,
                                 capture_output=True, text=True).stdout
            args.pg_url = out.strip().splitlines()[-1]
            self.started.append(("pg-stop.sh", {"PG_BASE": str(self.work / "pg")}))
        aws = {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
               if k in os.environ}
        if not args.s3_endpoint and not args.api_url:
            env = dict(os.environ, RGW_BASE=str(self.work / "rgw"), RGW_PORT=str(self._free_port()),
                       RGW_MON_PORT=str(self._free_port()), RGW_STORE="bluestore")
            print("starting PostgreSQL and the RADOS Gateway (bluestore) ...", flush=True)
            self.started.append(("rgw-stop.sh", {"RGW_BASE": str(self.work / "rgw")}))
            self.started_rgw = True
            out = subprocess.run([str(REPO / "scripts" / "rgw-start.sh")], env=env, check=True,
                                 capture_output=True, text=True).stdout
            exports = dict(line[len("export "):].split("=", 1) for line in out.splitlines()
                           if line.startswith("export "))
            args.s3_endpoint = exports["AWS_ENDPOINT_URL"]
            if args.rgw_nice:
                reniced = renice_daemons(self.work / "rgw" / "run", args.rgw_nice)
                self.arrangement.append(f"RADOS Gateway (stands in for a separate S3 cluster): mon, osd and radosgw "
                                        f"at nice {args.rgw_nice} ({reniced} threads)")
            else:
                self.arrangement.append("RADOS Gateway: normal priority")
            aws = {k: exports[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
        elif args.s3_endpoint:
            self.arrangement.append(f"S3 endpoint given ({args.s3_endpoint}): started elsewhere, priority not changed")
        if args.api_url:
            self.url = args.api_url.rstrip("/")
            self.arrangement.append(f"API given ({self.url}): one pool, arrangement not known here")
            return
        args.pg_url = self._fresh_database(args.pg_url)
        self.redis, broker = start_redis(self.work / "redis")
        config = ShapeConfig(base=self.work / "shape", database_url=args.pg_url, s3_endpoint=args.s3_endpoint,
                             bucket=f"fieldproof-load-{uuid.uuid4().hex[:10]}", broker_url=broker, aws=aws,
                             visibility_timeout=600, web_workers=args.web_workers, web_threads=args.web_threads,
                             worker_concurrency=args.worker_concurrency)
        self.config = config
        self.shape = ProductionShape(config)
        self.shape.prepare()
        self.shape.start_worker(timeout=120)
        self.shape.start_api(timeout=120)
        self.url = self.shape.url
        self.arrangement.append(f"API pool: gunicorn {args.web_workers} workers x {args.web_threads} threads, "
                                f"normal priority ({self.url})")
        if args.pools == "split":
            self.start_ingest()
        else:
            self.arrangement.append("single pool: uploads and sealing share the API pool (no ingest pool)")

    def start_ingest(self) -> None:
        """The ingest pool: the same app and gunicorn config on its own port (its own machines in
        production, docs/deploy.md), here at a lower CPU priority so it cannot starve the API pool."""
        from tests.e2e.processes import BIN, GUNICORN_CONF, Process, http_get, wait_for

        args = self.args
        port = self._free_port()
        database_url = self.config.database_url + ("&" if "?" in self.config.database_url else "?") \
            + f"application_name={INGEST_APPLICATION}"
        env = self.config.env(self.work / "shape" / "ingest", FIELDPROOF_BIND=f"127.0.0.1:{port}",
                              FIELDPROOF_DATABASE_URL=database_url,
                              FIELDPROOF_WEB_WORKERS=str(args.ingest_workers),
                              FIELDPROOF_WEB_THREADS=str(args.ingest_threads),
                              FIELDPROOF_SEALING_SLOTS=str(args.sealing_slots))
        argv = [str(BIN / "gunicorn"), "-c", str(GUNICORN_CONF), "wsgi:app"]
        if args.ingest_nice:
            argv = ["nice", "-n", str(args.ingest_nice), *argv]
        self.ingest = Process("gunicorn-ingest", argv, env, self.work / "shape" / "logs" / "ingest.log").start()
        self.ingest_url = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_get(self.ingest_url + "/readyz", timeout=2)[0] == 200, timeout=120,
                 what="the ingest pool's /readyz", interval=0.1, alive=self.ingest.check_alive)
        self.arrangement.append(f"ingest pool (POST /evidence, /evidence/uploads, /evidence/{{id}}/content, "
                                f"/evidence/{{id}}/complete, /visits/{{id}}/notes, /visits/{{id}}/check-in, check-out): "
                                f"gunicorn {args.ingest_workers} workers x "
                                f"{args.ingest_threads} threads, sealing slots {args.sealing_slots}/worker, "
                                f"nice {args.ingest_nice} ({self.ingest_url})")
        if args.ingest_db_nice:
            self.backend_renicer = BackendRenicer(args.pg_url, INGEST_APPLICATION, args.ingest_db_nice)
            self.backend_renicer.start()
            self.arrangement.append(f"PostgreSQL backends serving the ingest pool (application_name "
                                    f"{INGEST_APPLICATION}): nice {args.ingest_db_nice}, reniced as they appear")
        else:
            self.arrangement.append("PostgreSQL backends serving the ingest pool: normal priority")

    def _fresh_database(self, url: str) -> str:
        """A new database on the given server for this run (dropped at the end): the audit counts
        everything in it, and the signing key made here must be the one every checkpoint used."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        name = f"fieldproof_load_{uuid.uuid4().hex[:10]}"
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        self.created_database = (url, name)
        return make_url(url).set(database=name).render_as_string(hide_password=False)

    def _drop_database(self) -> None:
        from sqlalchemy import create_engine, text

        url, name = self.created_database
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    def start_hello(self) -> str:
        from tests.e2e.processes import BIN, GUNICORN_CONF, Process, base_env, http_get, wait_for

        port = self._free_port()
        env = base_env()
        env.update(FIELDPROOF_BIND=f"127.0.0.1:{port}", FIELDPROOF_WEB_WORKERS=str(self.args.web_workers),
                   FIELDPROOF_WEB_THREADS=str(self.args.web_threads))
        self.hello = Process("hello", [str(BIN / "gunicorn"), "-c", str(GUNICORN_CONF), "--chdir",
                                       str(REPO / "bench"), "load_bench:hello_app()"], env,
                             self.work / "logs" / "hello.log").start()
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_get(url + "/")[0] == 200, timeout=60, what="hello-world gunicorn",
                 interval=0.1, alive=self.hello.check_alive)
        return url

    def stop(self) -> None:
        if self.backend_renicer is not None:
            self.backend_renicer.stop()
        for process in (self.hello, self.ingest):
            if process is not None:
                process.stop(timeout=10)
        if self.shape is not None:
            self.shape.stop()
        if self.redis is not None:
            self.redis.stop()
        if getattr(self, "created_database", None) and not self.args.keep:
            try:
                self._drop_database()
            except Exception as error:  # noqa: BLE001 - a leftover database is reported, not fatal
                print(f"could not drop {self.created_database[1]}: {error}")
        for script, env in reversed(self.started):
            subprocess.run([str(REPO / "scripts" / script)], env=dict(os.environ, **env), capture_output=True,
                           timeout=300, check=False)
        if not self.args.keep:
            import shutil

            shutil.rmtree(self.work, ignore_errors=True)


# --- setup, load, audit, throughput -------------------------------------------------------------


def api_json(url: str, method: str, path: str, token: str, body: dict | None = None, timeout: float = 60):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null"), dict(error.headers)


def seed(url: str, pg_url: str, collectors: int, visits_per_collector: int) -> tuple[list[Plan], dict]:
    from concurrent.futures import ThreadPoolExecutor

    from tests.e2e.processes import case_payload, seed_users, seed_visits

    staff = {u["role"]: u for u in seed_users(pg_url, ["supervisor", "auditor"])}
    people = seed_users(pg_url, ["collector"] * collectors)
    day_start, day_end = lawful_day(datetime.now(timezone.utc))
    span = (day_end - day_start) - timedelta(minutes=40)
    step = span / visits_per_collector

    def make_case(collector):
        status, case, _ = api_json(url, "POST", "/api/v1/cases", staff["supervisor"]["token"],
                                   case_payload(collector["id"]))
        if status != 201:
            raise RuntimeError(f"case creation: {status} {case}")
        return case

    with ThreadPoolExecutor(8) as pool:
        cases = list(pool.map(make_case, [c for c in people for _ in range(visits_per_collector)]))
    specs, plans = [], []
    for c, collector in enumerate(people):
        visits = []
        for v in range(visits_per_collector):
            case = cases[c * visits_per_collector + v]
            window_start = day_start + step * v
            specs.append({"case": case, "collector_id": collector["id"], "scheduled_by": staff["supervisor"]["id"],
                          "window_start": window_start.astimezone(timezone.utc),
                          "hours": max(1, int(step.total_seconds() // 3600)), "status": "scheduled",
                          "created_at": (day_start - timedelta(hours=1)).astimezone(timezone.utc)})
            check_in = window_start + timedelta(minutes=5, seconds=c)
            visits.append({"case_id": case["id"], "check_in": check_in,
                           "check_out": check_in + min(step - timedelta(minutes=6), timedelta(minutes=30))})
        plans.append(Plan(collector, visits))
    ids = seed_visits(pg_url, specs)
    for n, visit_id in enumerate(ids):
        plans[n // visits_per_collector].visits[n % visits_per_collector]["id"] = visit_id
    return plans, staff


async def run_load(url: str, plans: list[Plan], photos: list[bytes], args, stats: Stats) -> list[Collector]:
    parts = urlsplit(url)
    rng = random.Random(args.seed)
    ingest = urlsplit(args.ingest_url) if args.ingest_url else None
    collectors = [Collector(parts.hostname, parts.port, plan, photos, args.photos, stats, args.drop_rate,
                            random.Random(rng.random()), args.photo_path,
                            (ingest.hostname, ingest.port) if ingest else None) for plan in plans]
    async def start(collector: Collector, n: int) -> None:
        if args.spawn_rate > 0:
            await asyncio.sleep(n / args.spawn_rate)  # the arrival schedule of the load, not a wait for a result
        await collector.day()

    results = await asyncio.gather(*(start(c, n) for n, c in enumerate(collectors)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    for failure in failures[:5]:
        print(f"  collector failed: {type(failure).__name__}: {failure}")
    stats.failed_collectors = len(failures)
    return collectors


async def hammer(url: str, path: str, headers: dict, connections: int,
                 seconds: float) -> tuple[int, list[float], int, float]:
    """C keep-alive connections, each sending the next request as soon as the last answer is in."""
    parts = urlsplit(url)
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def one():
        nonlocal errors
        conn = Connection(parts.hostname, parts.port)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                status, _, _ = await conn.request("GET", path, headers)
            except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, OSError):
                errors += 1
                continue
            if status != 200:
                errors += 1
            latencies.append(time.perf_counter() - started)
        conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    return len(latencies), latencies, errors, time.perf_counter() - began


def audit(url: str, pg_url: str, collectors: list[Collector], plans: list[Plan], staff: dict,
          timeout: float) -> dict:
    from sqlalchemy import create_engine, text

    acknowledged = [a for c in collectors for a in c.acknowledged]
    report: dict = {"acknowledged": len(acknowledged)}
    by_id = {a.item_id: a for a in acknowledged}
    report["acknowledged_twice"] = len(acknowledged) - len(by_id)
    case_ids = sorted({v["case_id"] for p in plans for v in p.visits})
    engine = create_engine(pg_url)
    with engine.connect() as db:  # this run's cases only (a running deployment may hold others)
        rows = db.execute(text("SELECT id, sha256, kind, status FROM evidence_items WHERE case_id = ANY(:c)"),
                          {"c": case_ids}).all()
        visits = db.execute(text("SELECT status, count(*) FROM visits WHERE case_id = ANY(:c) GROUP BY status"),
                            {"c": case_ids}).all()
        events = db.execute(text("SELECT count(*) FROM custody_events")).scalar_one()
    engine.dispose()
    stored = {r.id: r for r in rows}
    report["items_in_database"] = len(rows)
    report["missing"] = sorted(set(by_id) - set(stored))
    report["unacknowledged_extra"] = sorted(set(stored) - set(by_id))
    report["hash_mismatch"] = sorted(i for i, a in by_id.items() if i in stored and stored[i].sha256 != a.sha256)
    hashes = defaultdict(int)
    for r in rows:
        hashes[r.sha256] += 1
    report["duplicated_hashes"] = sum(1 for n in hashes.values() if n > 1)
    report["not_sealed"] = sum(1 for r in rows if r.status != "sealed")
    report["visits"] = {status: count for status, count in visits}
    report["custody_events"] = events
    # Through the API too: every case's listing holds exactly its acknowledged items.
    listed = 0
    supervisor = staff["supervisor"]["token"]
    for case_id in case_ids:
        page, ids = 1, []
        while True:
            status, items, headers = api_json(url, "GET", f"/api/v1/cases/{case_id}/evidence?page_size=100&page={page}",
                                              supervisor)
            assert status == 200, items
            ids += [i["id"] for i in items]
            if len(items) < 100:
                break
            page += 1
        expected = sorted(a.item_id for a in acknowledged if a.case_id == case_id)
        if sorted(ids) != expected:
            report.setdefault("api_listing_mismatch", []).append(case_id)
        listed += len(ids)
    report["listed_through_api"] = listed
    # The auditor's verification: every object re-hashed from S3, the whole ledger re-checked.
    started = time.monotonic()
    status, accepted, _ = api_json(url, "POST", "/api/v1/verifications", staff["auditor"]["token"], {"scope": "all"})
    assert status == 202, accepted
    while True:
        status, run, _ = api_json(url, "GET", f"/api/v1/verifications/{accepted['id']}", staff["auditor"]["token"])
        if run["status"] not in ("queued", "running"):
            break
        if time.monotonic() - started > timeout:
            run = {**run, "status": f"timed out ({run['status']})"}
            break
        time.sleep(1)
    report["verification"] = {k: run.get(k) for k in ("status", "checked", "failed", "tree_size", "error")}
    report["verification"]["failures"] = (run.get("failures") or [])[:5]
    report["verification_seconds"] = round(time.monotonic() - started, 1)
    report["clean"] = (not report["missing"] and not report["unacknowledged_extra"] and not report["hash_mismatch"]
                       and not report["duplicated_hashes"] and not report["acknowledged_twice"]
                       and not report["not_sealed"] and not report.get("api_listing_mismatch")
                       and report["visits"] == {"completed": sum(len(p.visits) for p in plans)}
                       and run["status"] == "passed")
    return report


def print_latency_table(stats: Stats, elapsed: float) -> None:
    print(f"\n{'endpoint':34} {'n':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}  errors")
    for endpoint in sorted(stats.latencies):
        values = stats.latencies[endpoint]
        errors = dict(stats.errors.get(endpoint, {}))
        print(f"{endpoint:34} {len(values):6d} {len(values) / elapsed:7.1f} {percentile(values, 50) * 1000:8.1f} "
              f"{percentile(values, 95) * 1000:8.1f} {percentile(values, 99) * 1000:8.1f} "
              f"{max(values) * 1000:8.1f}  {errors or '-'}")
    # When the tail happened: a burst at the start (fifty phones beginning their sync in the same
    # instant) is a different problem from stalls spread over the day.
    print("when the slowest 5 % of each read ended (seconds into the load):")
    for endpoint in sorted(stats.latencies):
        if not endpoint.startswith("GET") and "check-in" not in endpoint:
            continue
        values, ends = stats.latencies[endpoint], stats.finished_at[endpoint]
        cut = percentile(values, 95)
        slow = sorted(end for value, end in zip(values, ends) if value >= cut)
        print(f"   {endpoint:31} {' '.join(f'{end:.0f}' for end in slow)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collectors", type=int, default=50)
    parser.add_argument("--photos", type=int, default=20, help="photos per collector per day")
    parser.add_argument("--visits", type=int, default=4, help="visits per collector per day")
    parser.add_argument("--spawn-rate", type=float, default=10,
                        help="collectors started per second, as load tools ramp users up (locust's spawn rate; "
                             "50 at 10/s: all started within 5 s); 0 starts them all in the same instant")
    parser.add_argument("--drop-rate", type=float, default=0.05, help="share of POST attempts whose connection drops")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--photo-path", choices=("direct", "stream"), default="direct",
                        help="direct: POST /evidence/uploads, presigned PUT to S3, complete (the app's path on "
                             "S3); stream: the bytes through the API (POST /evidence multipart)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4,
                        help="threads per API-pool worker (and hello world's): reads are short, uploads go to "
                             "the ingest pool, so a few threads suffice and fewer threads share the GIL")
    parser.add_argument("--client-nice", type=int, default=-5,
                        help="CPU niceness of this client during the load and throughput phases (it stands in "
                             "for phones with CPUs of their own; a starved client inflates what it measures)")
    parser.add_argument("--ingest-db-nice", type=int, default=0,
                        help="CPU niceness of the PostgreSQL backends serving the ingest pool (default 0: in "
                             "production ingest and API nodes share the PostgreSQL primary; a niced backend also "
                             "holds the ledger head lock longer, stalling the API pool's custody writes)")
    parser.add_argument("--rps-rounds", type=int, default=5,
                        help="interleaved rounds of list and hello world; the ratio pools them all")
    parser.add_argument("--pools", choices=("split", "single"), default="split",
                        help="split: uploads and sealing on an ingest pool, the rest on the API pool (as nginx "
                             "routes in docs/deploy.md); single: one pool for everything")
    parser.add_argument("--ingest-workers", type=int, default=2)
    parser.add_argument("--ingest-threads", type=int, default=16)
    parser.add_argument("--ingest-nice", type=int, default=10,
                        help="CPU niceness of the ingest pool (its own machines in production)")
    parser.add_argument("--rgw-nice", type=int, default=10,
                        help="CPU niceness of the RADOS Gateway daemons when this script starts them "
                             "(a separate S3 cluster in production)")
    parser.add_argument("--sealing-slots", type=int, default=2, help="concurrent `complete` calls per ingest worker")
    parser.add_argument("--ingest-url", help=argparse.SUPPRESS)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--rps-seconds", type=float, default=8, help="seconds per endpoint per round")
    parser.add_argument("--rps-connections", type=int, default=64,
                        help="keep-alive connections of the throughput rounds (list and hello world alike). gunicorn's "
                             "workers race to accept them: with 16, a round now and then gave one worker 14 and the "
                             "other 2, which then sat idle (that round's figure halved, for either server)")
    parser.add_argument("--verify-timeout", type=float, default=900)
    parser.add_argument("--pg-url")
    parser.add_argument("--s3-endpoint")
    parser.add_argument("--api-url", help="a running API node (then --pg-url is its database)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args()
    if args.api_url and not args.pg_url:
        parser.error("--api-url needs --pg-url (seeding and the audit read the database)")

    print(f"{loadavg()} at start ({os.cpu_count()} cores)")
    services = Services(args)
    try:
        services.start()
        url = services.url
        args.ingest_url = services.ingest_url
        print(f"API {url} | PostgreSQL {args.pg_url} | S3 {args.s3_endpoint}")
        print("arrangement (this one machine; see docs/deploy.md for the production shape):")
        for line in services.arrangement:
            print(f"   {line}")
        hello = services.start_hello()  # now, before this process raises its priority (children inherit it)
        print(f"hello world: gunicorn {args.web_workers} workers x {args.web_threads} threads, normal priority "
              f"({hello}), the API pool's settings")
        if args.client_nice:
            os.setpriority(os.PRIO_PROCESS, 0, args.client_nice)
        print(f"load client (this process, one asyncio thread): nice {os.getpriority(os.PRIO_PROCESS, 0)}; "
              + (f"collectors start at {args.spawn_rate:g}/s" if args.spawn_rate > 0 else "collectors all start at once"))
        photos = make_photos()
        print("photos: " + ", ".join(f"{len(p) / 1e6:.1f} MB" for p in photos))
        plans, staff = seed(url, args.pg_url, args.collectors, args.visits)
        day = plans[0].visits[0]["check_in"].astimezone(SHANGHAI)
        print(f"seeded {args.collectors} collectors x {args.visits} visits (day of {day:%Y-%m-%d}, Shanghai time)")

        stats = Stats()
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        collectors = asyncio.run(run_load(url, plans, photos, args, stats))
        elapsed = time.perf_counter() - started
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        requests_done = sum(len(v) for v in stats.latencies.values())
        items = sum(len(c.acknowledged) for c in collectors)
        print(f"\n== load: {args.collectors} collectors, {elapsed:.1f} s, {requests_done} answered requests "
              f"({requests_done / elapsed:.1f}/s), {items} items acknowledged, "
              f"{stats.bytes_up / 1e6 / elapsed:.1f} MB/s uploaded, client CPU "
              f"{(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime):.1f} s; {loadavg()} at its end")
        print(f"   dropped on purpose: {dict(stats.drops) or 0}; answers that were replays: {stats.replays}; "
              f"collectors that failed: {stats.failed_collectors}")
        print(f"   retries that raced their own dropped attempt and got 409 before it committed: "
              f"{dict(stats.twin_conflicts) or 0}")
        print_latency_table(stats, elapsed)

        print(f"\n== audit ({loadavg()})")
        report = audit(url, args.pg_url, collectors, plans, staff, args.verify_timeout)
        for name, value in report.items():
            shown = value if not isinstance(value, list) else (len(value) if len(value) > 5 else value)
            print(f"   {name}: {shown}")

        print(f"\n== throughput: GET /api/v1/visits (API pool) vs hello world, same gunicorn settings ({loadavg()})")
        token = plans[0].collector["token"]
        path = "/api/v1/visits?page_size=50"
        auth = {"Authorization": f"Bearer {token}"}
        asyncio.run(hammer(url, path, auth, args.rps_connections, 1))  # warm-up
        asyncio.run(hammer(hello, "/", {}, args.rps_connections, 1))
        totals = {"list": [0, 0.0, []], "hello": [0, 0.0, []]}
        for round_ in range(1, args.rps_rounds + 1):
            figures = {}
            for name, target, target_path, headers in (("list", url, path, auth), ("hello", hello, "/", {})):
                cpu0 = resource.getrusage(resource.RUSAGE_SELF)
                n, lat, errors, seconds = asyncio.run(hammer(target, target_path, headers, args.rps_connections,
                                                             args.rps_seconds))
                cpu1 = resource.getrusage(resource.RUSAGE_SELF)
                client = (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / seconds
                totals[name][0] += n
                totals[name][1] += seconds
                totals[name][2] += lat
                figures[name] = n / seconds
                print(f"   round {round_} {'visits list' if name == 'list' else 'hello world':11}: {n / seconds:8.1f} req/s"
                      f"  p50 {percentile(lat, 50) * 1000:.1f} ms  p99 {percentile(lat, 99) * 1000:.1f} ms  "
                      f"errors {errors}  (client used {client:.2f} CPU)  {loadavg()}")
            print(f"   round {round_} ratio: {figures['list'] / figures['hello']:.2f}")
        list_rps = totals["list"][0] / totals["list"][1]
        hello_rps = totals["hello"][0] / totals["hello"][1]
        ratio = list_rps / hello_rps
        print(f"   all rounds: visits list {list_rps:.1f} req/s (p99 {percentile(totals['list'][2], 99) * 1000:.1f} ms), "
              f"hello world {hello_rps:.1f} req/s (p99 {percentile(totals['hello'][2], 99) * 1000:.1f} ms)")
        print(f"   ratio visits list / hello world: {ratio:.2f} (target >= 0.40); {loadavg()}")

        reads = [v for k, v in stats.latencies.items() if k.startswith("GET")]
        read_p99 = max(percentile(v, 99) for v in reads) if reads else float("nan")
        lost = len(report["missing"])
        duplicated = report["duplicated_hashes"] + len(report["unacknowledged_extra"])
        print(f"\n== targets (arrangement: {args.pools} pools"
              f"{f', ingest nice {args.ingest_nice}' if args.pools == 'split' else ''}"
              f"{f', RADOS Gateway nice {args.rgw_nice}' if services.started_rgw and args.rgw_nice else ''}"
              f"{f', ingest PostgreSQL backends nice {args.ingest_db_nice}' if args.pools == 'split' and args.ingest_db_nice else ''}"
              f", API pool {args.web_workers} x {args.web_threads} threads, client nice {args.client_nice})")
        print(f"   lost items: {lost}, duplicated items: {duplicated} (target 0 and 0)")
        print(f"   audit clean: {report['clean']}")
        print(f"   p99 of list and read endpoints during the load: {read_p99 * 1000:.1f} ms (target <= 100)")
        print(f"   list endpoint / hello world: {ratio:.2f} (target >= 0.40)")
        print(f"{loadavg()} at end")
        return 0 if (report["clean"] and lost == 0 and duplicated == 0 and not stats.failed_collectors) else 1
    finally:
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
