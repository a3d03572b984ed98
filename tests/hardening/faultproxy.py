"""A fault-injecting TCP proxy for tests: in front of PostgreSQL or an S3 endpoint, it passes
bytes through, or refuses connections, delays every chunk, blackholes, or cuts every open
connection (now, or after N more bytes have gone upstream). Threads, no dependencies."""
from __future__ import annotations

import socket
import threading
import time


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.mode = "pass"          # pass | refuse | blackhole
        self.delay_s = 0.0          # added before forwarding each chunk, both ways
        self.cut_after_bytes: int | None = None  # close everything once this many more bytes went upstream
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._sent = 0
        threading.Thread(target=self._accept, daemon=True).start()

    # --- control ---------------------------------------------------------------------------

    def heal(self) -> None:
        self.mode, self.delay_s, self.cut_after_bytes = "pass", 0.0, None

    def cut(self) -> None:
        """Reset every open connection (both sides), as a crashed peer or a dead link would."""
        with self._lock:
            connections, self._connections = self._connections, []
        for sock in connections:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            _close(sock)

    def cut_after(self, count: int) -> None:
        with self._lock:
            self._sent = 0
            self.cut_after_bytes = count

    def close(self) -> None:
        self._stopped.set()
        _close(self._listener)
        self.cut()

    # --- plumbing ----------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == "refuse":
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                _close(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._connections += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, upstream: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                while self.mode == "blackhole" and not self._stopped.is_set():
                    time.sleep(0.05)
                if self.delay_s:
                    time.sleep(self.delay_s)
                if upstream and self.cut_after_bytes is not None:
                    with self._lock:
                        self._sent += len(data)
                        over = self._sent > self.cut_after_bytes
                    if over:
                        keep = len(data) - (self._sent - self.cut_after_bytes)
                        if keep > 0:
                            target.sendall(data[:keep])
                        self.cut()
                        return
                target.sendall(data)
        except OSError:
            pass
        finally:  # one side gone: tear down both, as a real proxy does
            _close(source)
            _close(target)


def _close(sock: socket.socket) -> None:
    """shutdown() first: close() alone does not wake a pump thread blocked in recv() on this
    socket, and the connection would live on with the server keeping its transaction and locks."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
