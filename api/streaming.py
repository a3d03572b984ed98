"""Stream a stored file (evidence bytes, a thumbnail, a packet volume or bundle) as a response.

Every caller has already recorded the read as a custody event in the request's transaction,
which commits before the first byte leaves.
"""
from __future__ import annotations

import base64
from typing import BinaryIO, Protocol

from flask import Response, current_app

READ_CHUNK = 1 << 20


class StoredFile(Protocol):
    stream: BinaryIO
    sha256: str
    size: int
    media_type: str
    filename: str


def send_stored(file: StoredFile, *, disposition: str = "attachment") -> Response:
    def chunks():
        with file.stream as stream:
            while chunk := stream.read(READ_CHUNK):
                yield chunk

    response = current_app.response_class(chunks(), mimetype=file.media_type, direct_passthrough=True)
    response.call_on_close(file.stream.close)
    response.headers["Content-Length"] = str(file.size)
    response.headers["ETag"] = f'"{file.sha256}"'
    response.headers["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(file.sha256)).decode()}:"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{file.filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
