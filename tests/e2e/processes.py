"""The production shape as real processes: Redis, Celery workers and gunicorn API nodes.

Used by `tests/e2e/test_production_shape.py` and `bench/load_bench.py`. Every process runs in a
process group of its own (so a SIGKILL reaches a Celery worker's pool children or gunicorn's
workers too), with an environment built here from scratch (no `FIELDPROOF_*` variable of the
calling shell leaks in), and writes its output to a log file whose tail is shown when it fails.
Readiness is always polled with a bound, never slept for.

PostgreSQL and the S3 endpoint are not started here: `scripts/pg-start.sh` and
`scripts/rgw-start.sh` do that (`scripts/test.sh` for `make test`).
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's bin: gunicorn and fieldproof live beside python
GUNICORN_CONF = REPO / "deploy" / "gunicorn.conf.py"

T = TypeVar("T")

# What a child may inherit from the calling shell; everything FieldProof-specific is set explicitly.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "USER", "LOGNAME", "SSL_CERT_FILE")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05,
             alive: Callable[[], None] | None = None) -> T:
    """Poll `check` until it returns something truthy (returned), at most `timeout` seconds.

    `alive` is called between polls and should raise when the awaited process has died, so a
    crash fails at once with its log instead of after the whole timeout."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - kept for the timeout message
            last_error = error
        if alive is not None:
            alive()
        if time.monotonic() >= deadline:
            detail = f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


class ProcessDied(RuntimeError):
    pass


@dataclass
class Process:
    """One child process in its own process group, output to `log_path`."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path = REPO
    popen: subprocess.Popen | None = None

    def start(self) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it; closed on stop
        log.write(f"\n===== {self.name}: {' '.join(self.argv)}\n".encode())
        log.flush()
        self._log = log
        self.popen = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise ProcessDied(f"{self.name} exited with {self.popen.returncode}; log tail:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def signal_group(self, sig: int) -> None:
        """Signal the whole process group (the leader's pid is the group id: start_new_session)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def kill(self, timeout: float = 15) -> None:
        """SIGKILL the whole group, as a power cut or the OOM killer would, and reap the leader."""
        if self.popen is None:
            return
        self.signal_group(signal.SIGKILL)
        self.popen.wait(timeout=timeout)
        # Pool children may outlive the leader for a moment; the group must be empty before we go on.
        wait_for(lambda: not _group_alive(self.pid), timeout=timeout, what=f"{self.name}'s process group to die")
        self._close_log()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the group (graceful), SIGKILL whatever is left after `timeout`."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        log = getattr(self, "_log", None)
        if log is not None and not log.closed:
            log.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies still count for killpg; look for a live member in /proc.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


# --- Redis --------------------------------------------------------------------------------------


def redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def start_redis(workdir: Path) -> tuple[Process, str]:
    """A throwaway Redis on a free loopback port, no persistence; returns it and its URL."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    process = Process("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(workdir)],
                      base_env(), workdir / "redis.log").start()
    wait_for(lambda: redis_ping(port), timeout=20, what="redis to answer PING", alive=process.check_alive)
    return process, f"redis://127.0.0.1:{port}/0"


# --- FieldProof processes -----------------------------------------------------------------------


def base_env() -> dict[str, str]:
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def http_get(url: str, headers: dict | None = None, timeout: float = 5) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@dataclass
class ShapeConfig:
    """Everything the API nodes and workers share: the production configuration of one deployment."""

    base: Path
    database_url: str
    s3_endpoint: str
    bucket: str
    broker_url: str
    aws: dict[str, str]
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    visibility_timeout: int = 10
    web_workers: int = 2
    web_threads: int = 4
    worker_concurrency: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def signing_key_file(self) -> Path:
        return self.base / "secrets" / "signing.pem"

    @property
    def c2pa_files(self) -> tuple[Path, Path]:
        return self.base / "secrets" / "c2pa-chain.pem", self.base / "secrets" / "c2pa-key.pem"

    def make_signing_key(self) -> None:
        """The mounted secrets: a key file and a content-credential certificate, made once, outside
        every node's data dir."""
        from core.keys import write_development_content_credentials, write_new_key_file

        if not self.signing_key_file.exists():
            write_new_key_file(self.signing_key_file)
        if not self.c2pa_files[0].exists():
            write_development_content_credentials(*self.c2pa_files, "FieldProof e2e")

    def env(self, data_dir: Path, **extra: str) -> dict[str, str]:
        env = base_env()
        env.update(self.aws)
        env.update({
            "FIELDPROOF_ENV": "production",
            "FIELDPROOF_DATA_DIR": str(data_dir),
            "FIELDPROOF_DATABASE_URL": self.database_url,
            "FIELDPROOF_STORAGE_URL": f"s3://{self.bucket}",
            "FIELDPROOF_S3_ENDPOINT_URL": self.s3_endpoint,
            "FIELDPROOF_JOBS": "celery",
            "FIELDPROOF_BROKER_URL": self.broker_url,
            "FIELDPROOF_SIGNING_KEY_FILE": str(self.signing_key_file),
            "FIELDPROOF_C2PA_CERT_FILE": str(self.c2pa_files[0]),
            "FIELDPROOF_C2PA_KEY_FILE": str(self.c2pa_files[1]),
            "FIELDPROOF_SECRET_KEY": self.secret_key,
            "FIELDPROOF_JOB_VISIBILITY_TIMEOUT_SECONDS": str(self.visibility_timeout),
            "FIELDPROOF_CHECKPOINT_INTERVAL_SECONDS": "0",
            "FIELDPROOF_LOG_LEVEL": "WARNING",
        })
        env.update(self.extra_env)
        env.update(extra)
        return env


class ProductionShape:
    """Redis + M Celery workers + one gunicorn API node (N workers) over a given PostgreSQL and S3.

    API node and workers get separate data dirs: like separate machines, they share nothing on disk.
    """

    _names = itertools.count(1)

    def __init__(self, config: ShapeConfig):
        self.config = config
        self.base = config.base
        self.logs = config.base / "logs"
        self.api: Process | None = None
        self.api_port: int | None = None
        self.workers: list[Process] = []
        self._stopping: list[Process] = []

    # S3 bucket with Object Lock and the schema, as a deploy does before starting any node
    def prepare(self) -> None:
        import boto3

        from evidence.storage.s3 import S3BlobStore, s3_client_config

        self.config.make_signing_key()
        client = boto3.session.Session().client(
            "s3", endpoint_url=self.config.s3_endpoint, region_name=self.config.aws.get("AWS_DEFAULT_REGION",
                                                                                      "us-east-1"),
            aws_access_key_id=self.config.aws.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=self.config.aws.get("AWS_SECRET_ACCESS_KEY"),
            config=s3_client_config(addressing_style="path"))
        S3BlobStore(self.config.bucket, client=client).ensure_bucket(object_lock=True)
        self.migrate()

    def migrate(self) -> None:
        """`fieldproof db upgrade` with the production environment: migrations on deploy."""
        result = subprocess.run([str(BIN / "fieldproof"), "db", "upgrade"], cwd=REPO,
                                env=self.config.env(self.base / "migrate"), capture_output=True, text=True,
                                timeout=180, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"fieldproof db upgrade failed:\n{result.stdout}\n{result.stderr[-4000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start_api(self, port: int | None = None, *, timeout: float = 60) -> Process:
        self.api_port = port or self.api_port or free_port()
        env = self.config.env(self.base / "api", FIELDPROOF_BIND=f"127.0.0.1:{self.api_port}",
                              FIELDPROOF_WEB_WORKERS=str(self.config.web_workers),
                              FIELDPROOF_WEB_THREADS=str(self.config.web_threads),
                              FIELDPROOF_LEDGER_STANDBY="true")  # as deploy/systemd's API unit: workers sequence
        self.api = Process(f"gunicorn-{next(self._names)}",
                           [str(BIN / "gunicorn"), "-c", str(GUNICORN_CONF), "wsgi:app"],
                           env, self.logs / "api.log").start()
        self.wait_api_ready(timeout)
        return self.api

    def wait_api_ready(self, timeout: float = 60) -> None:
        wait_for(lambda: http_get(self.url + "/readyz", timeout=2)[0] == 200, timeout=timeout,
                 what="gunicorn /readyz to answer 200", interval=0.1, alive=self.api.check_alive)

    def start_worker(self, *, timeout: float = 60) -> Process:
        n = next(self._names)
        worker = Process(f"worker-{n}", [str(BIN / "fieldproof"), "worker", "--concurrency",
                                         str(self.config.worker_concurrency), "--hostname", f"w{n}@%h",
                                         "--loglevel", "INFO"],
                         self.config.env(self.base / f"worker-{n}"), self.logs / f"worker-{n}.log").start()
        self.workers.append(worker)
        wait_for(lambda: f"w{n}@" in worker.log_path.read_text(errors="replace") and " ready." in
                 worker.log_path.read_text(errors="replace"), timeout=timeout,
                 what=f"celery worker w{n} to be ready", interval=0.1, alive=worker.check_alive)
        return worker

    def start(self, workers: int = 1) -> ProductionShape:
        self.prepare()
        for _ in range(workers):
            self.start_worker()
        self.start_api()
        return self

    def stop(self) -> None:
        for process in [self.api, *self.workers]:
            if process is not None:
                with contextlib.suppress(Exception):
                    process.stop(timeout=20)

    def __enter__(self) -> ProductionShape:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --- seeding (setup steps that talk to the database directly, as an operator's script would) ----

_counter = itertools.count(1)


def seed_users(database_url: str, roles: list[str], *, ttl: timedelta = timedelta(hours=6)) -> list[dict[str, Any]]:
    """Users with bearer tokens, straight into the database (tokens stored hashed, as login does)."""
    from argon2 import PasswordHasher

    from accounts.models import AccessToken, User
    from accounts.services import hash_token
    from api.dbtools import load_models
    from core.clock import utcnow
    from tests.factories import grant_every_creditor
    from core.db import Database

    load_models()
    password_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(secrets.token_urlsafe(16))
    db = Database(database_url)
    made = []
    try:
        with db.transaction() as session:
            for role in roles:
                user = User(username=f"{role}-{secrets.token_hex(4)}-{next(_counter)}", role=role,
                            display_name=role.title(), password_hash=password_hash)
                session.add(user)
                session.flush()
                grant_every_creditor(session, user)
                token = secrets.token_urlsafe(24)
                session.add(AccessToken(token_hash=hash_token(token), user_id=user.id, expires_at=utcnow() + ttl))
                made.append({"id": user.id, "role": role, "token": token,
                             "headers": {"Authorization": f"Bearer {token}"}})
    finally:
        db.dispose()
    return made


def case_payload(collector_id: str | None, *, n: int | None = None, jurisdiction: str = "CN") -> dict[str, Any]:
    n = n if n is not None else next(_counter)
    return {
        "reference": f"PS-{secrets.token_hex(3).upper()}-{n:05d}",
        "debtor": {"name": "Li Wei", "national_id": f"11010119850101{n % 10000:04d}",
                   "phone": f"+86 138 0013 {n % 10000:04d}"},
        "card_last4": "4321", "currency": "CNY", "amount_overdue": "12345.67", "days_past_due": 95,
        "jurisdiction": jurisdiction,
        "flags": {"cease_contact": False, "attorney_represented": False, "workplace_contact_prohibited": False},
        "assigned_collector_id": collector_id,
        "addresses": [
            {"kind": "home", "line": "88 Century Avenue", "city": "Shanghai", "country": "CN",
             "lat": 31.2354, "lon": 121.5055},
            {"kind": "workplace", "line": "1 Lujiazui Ring Road", "city": "Shanghai", "country": "CN",
             "lat": 31.2397, "lon": 121.4998},
        ],
    }


def post_json(url: str, body: dict, headers: dict, timeout: float = 30) -> tuple[int, dict]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={**headers, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def seed_visits(database_url: str, specs: list[dict[str, Any]]) -> list[str]:
    """Visits straight into the database (a setup step: the API refuses to schedule outside lawful
    hours, and a test must run at any hour). Each spec: case (API JSON), collector_id, scheduled_by,
    window_start (UTC), hours, status, created_at (UTC), kind ("home")."""
    from api.dbtools import load_models
    from core.db import Database
    from visits.models import Visit

    load_models()  # every mapped class, so foreign keys resolve
    db = Database(database_url)
    ids = []
    try:
        with db.transaction() as session:
            for spec in specs:
                case = spec["case"]
                address = next(a for a in case["addresses"] if a["kind"] == spec.get("kind", "home"))
                start = spec["window_start"]
                visit = Visit(case_id=case["id"], address_id=address["id"], collector_id=spec["collector_id"],
                              window_start=start, window_end=start + timedelta(hours=spec.get("hours", 2)),
                              time_zone="Asia/Shanghai", local_date=(start + timedelta(hours=8)).date(),
                              status=spec.get("status", "checked_in"), scheduled_by=spec["scheduled_by"])
                if spec.get("created_at") is not None:
                    visit.created_at = visit.updated_at = spec["created_at"]
                session.add(visit)
                session.flush()
                ids.append(visit.id)
    finally:
        db.dispose()
    return ids
