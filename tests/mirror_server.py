"""A static host on loopback serving a tiles copy, with the misbehaviour of a broken or hostile one.

`MirrorServer(root)` serves the files under `root` (what `export-tiles` wrote) at `server.url`;
`server.misbehave[path] = kind` makes one path answer badly instead: ``flood`` (no length, bytes
until the reader hangs up), ``huge`` (a declared gigabyte), ``gzip`` (compressed), ``stall``
(headers, then nothing until the test ends), ``missing`` (404). Every request is kept with its
headers (names in lower case) and query, so a test sees what a reader sent.
"""
from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


class MirrorServer:
    def __init__(self, root: Path | None = None, files: dict[str, bytes] | None = None):
        self.root = root
        self.files = dict(files or {})
        self.misbehave: dict[str, str] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.released = threading.Event()
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *_args):
                pass

            def do_GET(self):  # noqa: N802 - the http.server hook's name
                parts = urlsplit(self.path)
                path = parts.path.lstrip("/")
                mirror.requests.append((path, parts.query, {k.lower(): v for k, v in self.headers.items()}))
                kind = mirror.misbehave.get(path)
                data = mirror.read(path)
                if kind == "missing" or (data is None and kind is None):
                    self.send_error(404)
                elif kind == "huge":
                    self.send_response(200)
                    self.send_header("Content-Length", str(10 ** 9))
                    self.end_headers()
                elif kind == "flood":
                    self.send_response(200)
                    self.end_headers()
                    try:
                        for _ in range(1024):
                            self.wfile.write(b"\0" * 65536)
                    except OSError:
                        pass
                elif kind == "gzip":
                    body = gzip.compress(data or b"")
                    self.send_response(200)
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif kind == "stall":
                    self.send_response(200)
                    self.send_header("Content-Length", "8192")
                    self.end_headers()
                    self.wfile.flush()
                    mirror.released.wait(30)
                else:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def read(self, path: str) -> bytes | None:
        if path in self.files:
            return self.files[path]
        if self.root is not None and ".." not in path.split("/"):
            target = self.root / path
            if target.is_file():
                return target.read_bytes()
        return None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> MirrorServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
