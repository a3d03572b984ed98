"""Reading a published tiles copy of the ledger where it is published: a directory or HTTP(S).

Each reader is the `custody.ledger` verifiers' `FetchFile` (a path such as ``checkpoint`` or
``tile/0/000`` in, the file's bytes out), used by the verification run's mirror check,
`ledger verify-tiles` and `verify-bundle --tiles`. A mirror may be hostile or broken, so
every read is bounded: only the checkpoint and canonical tile paths are asked for, each kind of
file has a size cap (a tile is at most 8 KiB, a checkpoint a signed note, an entry bundle 256
custody leaves), and HTTP has connect and read timeouts and a deadline per file. A mirror that
cannot be read raises `TilesUnreadable`; one that serves a file larger than its kind can be,
`TileFileTooLarge`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from custody.ledger.merkle import HASH_SIZE
from custody.ledger.tiles import TILE_WIDTH, TilePathError, parse_tile_path

__all__ = ["MAX_CHECKPOINT_BYTES", "MAX_TILE_FILE_BYTES", "TileFileTooLarge", "TilesUnreadable",
           "directory_tiles", "is_url", "mirror_tiles", "shown_location", "url_tiles"]

FetchFile = Callable[[str], bytes]
CHECKPOINT = "checkpoint"
MAX_TILE_FILE_BYTES = 2 << 20  # a full entry bundle of 256 custody leaves
MAX_CHECKPOINT_BYTES = 64 << 10  # a signed note with its signature and cosignature lines
_STREAM_BLOCK = 64 << 10


class TilesUnreadable(Exception):
    """A file of the tiles copy is missing or cannot be read."""


class TileFileTooLarge(TilesUnreadable):
    """A file of the tiles copy is larger than any file of its kind: refused unread."""

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.path = path


def size_cap(path: str) -> int:
    """The most bytes the file at `path` can hold; TilesUnreadable for a path that is no tile's."""
    if path == CHECKPOINT:
        return MAX_CHECKPOINT_BYTES
    try:
        tile = parse_tile_path(path)
    except TilePathError as error:
        raise TilesUnreadable(f"{path!r} is not a tile path: {error}") from None
    if not path.startswith("tile/"):
        raise TilesUnreadable(f"{path!r} is not a tile path")
    return MAX_TILE_FILE_BYTES if tile.entries else TILE_WIDTH * HASH_SIZE


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def shown_location(location: str) -> str:
    """The location as a report may show it: a URL without user, password, query or fragment
    (where a token would sit), a directory as it is."""
    if not is_url(location):
        return location
    parts = urlsplit(location)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return urlunsplit((parts.scheme, host + (f":{port}" if port else ""), parts.path, "", ""))


def directory_tiles(root: Path | str) -> FetchFile:
    """Reads a directory that ``fieldproof ledger export-tiles`` wrote (or a mirror of one)."""
    base = Path(root)

    def fetch(path: str) -> bytes:
        cap = size_cap(path)
        try:
            with open(base / path, "rb") as stream:
                data = stream.read(cap + 1)
        except OSError as error:
            raise TilesUnreadable(f"{path}: {error.strerror or error}") from None
        if len(data) > cap:
            raise TileFileTooLarge(f"{path} is larger than any file of its kind ({cap} bytes)", path)
        return data
    return fetch


def url_tiles(prefix: str, *, headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> FetchFile:
    """Reads tiles over HTTP(S) under `prefix`, one kept-alive connection pool per reader.

    `timeout` bounds connecting and each read; a file must have arrived within twice it. No
    compressed bodies are asked for or accepted (a tile's bytes are what is hashed), a CDN's
    redirects are followed up to three, and a user and password in the URL are sent as Basic
    authentication, a query (a signed-URL token) on every request; `headers` (a bearer token)
    and the credentials are not sent on to another host, and no message names them.
    """
    import urllib3

    parts = urlsplit(prefix)
    base = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path.rstrip("/") + "/", "", ""))
    query = f"?{parts.query}" if parts.query else ""
    secrets = [secret for secret in (parts.password, parts.query) if secret and len(secret) >= 4]
    sent = {"User-Agent": "fieldproof-tiles", "Accept-Encoding": "identity", **(headers or {})}
    if parts.username is not None:
        sent.update(urllib3.util.make_headers(basic_auth=f"{unquote(parts.username)}:{unquote(parts.password or '')}"))
    # urllib3 retries nothing itself (its retry warnings would log the query); a connection the
    # host dropped between two requests is retried here, once.
    pool = urllib3.PoolManager(headers=sent, timeout=urllib3.Timeout(connect=timeout, read=timeout),
                               retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=3,
                                                     raise_on_redirect=True))

    def unreadable(path: str, what: str) -> TilesUnreadable:
        for secret in secrets:
            what = what.replace(secret, "***")
        return TilesUnreadable(f"{base}{path}: {what}")

    def fetch(path: str) -> bytes:
        cap = size_cap(path)
        deadline = time.monotonic() + 2 * timeout
        response = None
        for attempt in (1, 2):
            try:
                response = pool.request("GET", base + path + query, preload_content=False, decode_content=False)
                break
            except (urllib3.exceptions.HTTPError, OSError) as error:
                dropped = isinstance(getattr(error, "reason", error), urllib3.exceptions.ProtocolError)
                if attempt == 2 or not dropped:
                    raise unreadable(path, _reason(error)) from None
        try:
            if response.status != 200:
                raise unreadable(path, f"HTTP {response.status}")
            encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
            if encoding != "identity":
                raise unreadable(path, f"served {encoding}-encoded, not as its bytes")
            declared = response.headers.get("Content-Length") or ""
            if declared.isdigit() and int(declared) > cap:
                raise TileFileTooLarge(f"{path} is larger than any file of its kind ({cap} bytes)", path)
            data = bytearray()
            for block in response.stream(_STREAM_BLOCK, decode_content=False):
                data += block
                if len(data) > cap:
                    raise TileFileTooLarge(f"{path} is larger than any file of its kind ({cap} bytes)", path)
                if time.monotonic() > deadline:
                    raise unreadable(path, f"not all there after {2 * timeout:g} s")
        except (urllib3.exceptions.HTTPError, OSError) as error:
            response.close()
            raise unreadable(path, _reason(error)) from None
        except TilesUnreadable:
            response.close()
            raise
        finally:
            response.release_conn()
        return bytes(data)
    return fetch


def _reason(error: Exception) -> str:
    """urllib3's reason without its prefix, which names the connection and the URL asked for."""
    reason = str(getattr(error, "reason", None) or error)
    return reason.split("): ", 1)[1] if "): " in reason else reason


def mirror_tiles(location: str, timeout: float = 30.0) -> FetchFile:
    """A reader for `location`: an http(s) URL, or a directory."""
    return url_tiles(location, timeout=timeout) if is_url(location) else directory_tiles(location)
