"""Evidence ingest over HTTP: a real served app on loopback against the tools a sysadmin would use.

Large files (10 MB, 200 MB, 1 GB; a WAV, so the bytes pass the media checks): the client streams
a multipart `POST /api/v1/evidence` with `sendfile`; the server (werkzeug, a separate process,
filesystem store) spools while hashing, screens, stores and seals. Baseline, same machine, same
run: `openssl dgst -sha256 FILE && cp FILE DEST`. Reported: throughput ratio (target >= 0.7) and
the server's peak RSS growth during the upload (VmHWM after `clear_refs` 5; target <= 64 MB at 1 GB).

The baseline does not make its copy durable (`cp` leaves it in the page cache), while the server
must fsync every blob before sealing it. So a second baseline, `... && cp FILE DEST && sync DEST`
(coreutils `sync FILE` is an fsync of that file), is shown beside it for an honest comparison;
the target is still judged against the first, as the issue defines it. The load average is
printed at the start and end: other work on the machine moves these figures a lot.

Photo (4000x3000 JPEG with EXIF): the same HTTP ingest against the bare Pillow steps it needs
(hashlib SHA-256, open, EXIF, thumbnail 512, save); ratio target <= 1.3.

Run: python bench/ingest_bench.py [--sizes 10,200,1000] [--runs 3]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MB = 1_000_000
BOUNDARY = "fieldproof-bench-boundary"


# --- the served app (child process) -----------------------------------------------------------

def serve(data_dir: Path) -> None:
    """Migrate, create a collector with a visit, print how to reach it, then serve on loopback."""
    from werkzeug.serving import make_server

    from api.app import create_app
    from api.dbtools import upgrade
    from core.settings import Settings
    from tests.evidence_world import make_visit
    from tests.factories import Factory

    settings = Settings(data_dir=data_dir, secret_key="bench-secret-" + "x" * 40, log_level="WARNING",
                        evidence_max_bytes=2 * 1000 * MB)
    data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    app = create_app(settings)
    factory = Factory(app, app.test_client())
    supervisor, collector = factory.user("supervisor"), factory.user("collector")
    case = factory.case(collector=collector, supervisor=supervisor)
    visit_id = make_visit(app, case, collector.id, supervisor.id)
    server = make_server("127.0.0.1", 0, app, threaded=False)
    print(json.dumps({"port": server.server_port, "token": collector.token, "visit_id": visit_id}), flush=True)
    server.serve_forever()


# --- the client ---------------------------------------------------------------------------------

def wav_file(path: Path, size: int) -> None:
    """A valid WAV of `size` bytes whose samples are pseudo-random (incompressible, like audio)."""
    data_len = size - 44
    header = (b"RIFF" + struct.pack("<I", size - 8) + b"WAVE" + b"fmt " +
              struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) + b"data" + struct.pack("<I", data_len))
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        f.write(header)
        left = data_len
        while left:
            f.write(block[: min(left, len(block))])
            left -= min(left, len(block))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def post_evidence(server: dict, path: Path, kind: str, digest: str) -> tuple[float, dict]:
    """One streamed multipart POST; returns seconds from first byte sent to response read."""
    metadata = json.dumps({"visit_id": server["visit_id"], "kind": kind, "sha256": digest,
                           "captured_at": "2026-03-01T10:15:00+08:00", "lat": 31.2354, "lon": 121.5055,
                           "accuracy_m": 5, "consent": {"subject": "granted", "third_parties_present": False}})
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n"
            f"Content-Type: application/json\r\n\r\n{metadata}\r\n--{BOUNDARY}\r\n"
            f"Content-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    length = len(head) + path.stat().st_size + len(tail)
    request = (f"POST /api/v1/evidence HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server['token']}\r\n"
               f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\n"
               f"Connection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server["port"])) as sock, open(path, "rb") as body:
        started = time.perf_counter()
        sock.sendall(request + head)
        sock.sendfile(body)
        sock.sendall(tail)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
        elapsed = time.perf_counter() - started
    status = int(response.split(b" ", 2)[1])
    payload = json.loads(response.split(b"\r\n\r\n", 1)[1] or b"{}")
    if status != 201:
        raise RuntimeError(f"ingest failed with {status}: {payload}")
    return elapsed, payload


def baseline(path: Path, dest: Path, *, durable: bool = False) -> float:
    started = time.perf_counter()
    sync = f" && sync {dest}" if durable else ""
    subprocess.run(f"openssl dgst -sha256 {path} > /dev/null && cp {path} {dest}{sync}", shell=True, check=True)
    elapsed = time.perf_counter() - started
    dest.unlink()
    return elapsed


def rss_reset(pid: int) -> int:
    """Reset the peak RSS (clear_refs 5) and return the current RSS in bytes."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _status_kb(pid, "VmRSS") * 1024


def peak_rss(pid: int) -> int:
    return _status_kb(pid, "VmHWM") * 1024


def _status_kb(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise LookupError(name)


def pillow_steps(photo: Path, out: Path) -> float:
    """The baseline a photo ingest must stay near: hash, open, EXIF, thumbnail, save."""
    from PIL import Image

    started = time.perf_counter()
    digest = hashlib.sha256()
    with open(photo, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    with Image.open(photo) as img:
        img.getexif()
        img.thumbnail((512, 512))
        img.save(out, "JPEG", quality=85)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="10,200,1000", help="large-file sizes in MB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--photo-runs", type=int, default=7)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0

    work = Path(tempfile.mkdtemp(prefix="fieldproof-ingest-bench-"))
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(work / "server")], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    ok = True
    try:
        server = _announcement(child)
        print(f"server pid {child.pid} on 127.0.0.1:{server['port']} (werkzeug, filesystem store)")
        print(f"load average at start: {_load()}")
        print(f"{'size':>8} {'ours MB/s':>10} {'openssl+cp MB/s':>16} {'ratio':>6} {'+sync MB/s':>11} "
              f"{'ratio':>6} {'peak RSS growth':>16}")
        for size_mb in (int(s) for s in args.sizes.split(",")):
            path = work / f"recording-{size_mb}MB.wav"
            wav_file(path, size_mb * MB)
            digest = sha256_file(path)
            runs = args.runs if size_mb < 1000 else max(1, args.runs - 1)
            ours, base, durable, growth = [], [], [], []
            for _ in range(runs):
                base.append(baseline(path, work / "copy.bin"))
                durable.append(baseline(path, work / "copy.bin", durable=True))
                before = rss_reset(child.pid)
                elapsed, _item = post_evidence(server, path, "audio", digest)
                growth.append(peak_rss(child.pid) - before)
                ours.append(elapsed)
                digest_marker = work / "server" / "blobs"  # identical bytes are stored once: keep runs honest
                _forget_blob(digest_marker, digest)
            ours_s, base_s, durable_s = statistics.median(ours), statistics.median(base), statistics.median(durable)
            ratio = base_s / ours_s
            ok &= ratio >= 0.7 and (size_mb < 1000 or max(growth) <= 64 * 2**20)
            print(f"{size_mb:>6}MB {size_mb * MB / ours_s / 1e6:>10.0f} {size_mb * MB / base_s / 1e6:>16.0f} "
                  f"{ratio:>6.2f} {size_mb * MB / durable_s / 1e6:>11.0f} {durable_s / ours_s:>6.2f} "
                  f"{max(growth) / 2**20:>13.1f} MB")
            path.unlink()

        from bench.ingest_media_bench import make_photo

        photo = work / "photo.jpg"
        make_photo(photo)
        digest = sha256_file(photo)
        ours, base = [], []
        for _ in range(args.photo_runs):
            base.append(pillow_steps(photo, work / "thumb.jpg"))
            ours.append(post_evidence(server, photo, "photo", digest)[0])
            _forget_blob(work / "server" / "blobs", digest)
        ratio = statistics.median(ours) / statistics.median(base)
        ok &= ratio <= 1.3
        print(f"photo 4000x3000 ({photo.stat().st_size / MB:.1f} MB): ours {statistics.median(ours) * 1000:.0f} ms, "
              f"Pillow steps alone {statistics.median(base) * 1000:.0f} ms, ratio {ratio:.2f} (target <= 1.3)")
    finally:
        child.terminate()
        child.wait(timeout=30)
        subprocess.run(["rm", "-rf", str(work)], check=False)
    print(f"load average at end: {_load()}")
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _announcement(child: subprocess.Popen) -> dict:
    """The server's one JSON line with its port (its logs may share stdout)."""
    for line in child.stdout:
        if line.startswith('{"port"'):
            return json.loads(line)
    raise RuntimeError(f"the bench server exited with {child.wait()} before it was ready")


def _forget_blob(root: Path, digest: str) -> None:
    """Remove a stored blob between runs, so each run stores its bytes instead of deduplicating."""
    path = root / "sha256" / digest[:2] / digest[2:4] / digest
    if path.exists():
        path.chmod(0o644)
        path.unlink()
    (root / "retention" / digest[:2] / digest[2:4] / f"{digest}.json").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
